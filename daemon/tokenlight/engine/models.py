"""Loading models: the embedded default, a local folder, or a Hugging Face cache id.

Loading never runs remote code unless the caller sets ``trust_remote_code`` and never downloads
unless the caller sets ``allow_download``: a missing model is an error naming where we looked.
"""

from __future__ import annotations

import gc
import logging
import pickle
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..embedded import EMBEDDED_MODEL_NAME, EMBEDDED_MODEL_PATH
from .errors import ModelNotCachedError, ModelNotFoundError, TokenlightError, UnsupportedModelError
from .identity import folder_fingerprint, model_identity
from .placement import input_device

if TYPE_CHECKING:  # transformers is imported when a model loads, not when the daemon starts
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification

log = logging.getLogger(__name__)

CAUSAL_LM = "causal_lm"
SEQUENCE_CLASSIFIER = "sequence_classifier"
SEQ2SEQ_LM = "seq2seq_lm"


@dataclass
class LoadedModel:
    """A model ready for attribution.

    Attributes:
        model: the ``transformers`` model, in eval mode, parameters frozen (we only ever need
            gradients with respect to the input embeddings, so no parameter gradient is computed).
        tokenizer: its fast tokenizer.
        name (str): what the user asked for (``tokenlight-tiny-py`` for the embedded model).
        kind (str): ``causal_lm``, ``seq2seq_lm`` (encoder-decoder, engine/seq2seq.py) or
            ``sequence_classifier``.
        device (torch.device): where inputs go (the first device under ``device_map``).
        dtype (torch.dtype): the weights' dtype.
        context_length (int | None): the most tokens the model accepts, if it says.
        folder (Path | None): the local folder the weights were read from (a Hugging Face cache id
            resolves to its snapshot folder); None for a model built in memory.
        source (str | None): what was passed to ``from_pretrained`` (a folder or a Hub id).
        files (dict | None): :func:`~tokenlight.engine.identity.folder_fingerprint` of ``folder``
            taken before the weights were read, or a marker that matches no folder when a file
            changed during the load.
        compile_failure (str | None): why ``compile_layers`` failed on this model, once it has; later
            calls then run eager without trying again.
        compiled (bool): ``compile_layers`` has run this model's layers compiled; :meth:`release`
            then drops dynamo's graphs with the model.
    """

    model: Any
    tokenizer: Any
    name: str
    kind: str
    device: torch.device
    dtype: torch.dtype
    context_length: int | None
    folder: Path | None = None  # the local folder the files came from; None for models built in memory
    files: dict[str, list[Any]] | None = None  # folder_fingerprint(folder) taken before the load
    source: str | None = None  # what from_pretrained was given
    compile_failure: str | None = None  # why torch.compile failed on this model (engine/compilation.py)
    compiled: bool = False  # compile_layers ran this model's layers compiled at least once
    _identity: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def embedding(self) -> torch.nn.Module:
        module: torch.nn.Module = self.model.get_input_embeddings()
        return module

    def memory_bytes(self) -> int | None:
        """GPU memory torch has allocated on this model's device; None off CUDA (there the
        process's resident memory is the measure, which is not the model's to know)."""
        if self.device.type != "cuda":
            return None
        return int(torch.cuda.memory_allocated(self.device))

    def release_cached_memory(self) -> None:
        """Hand the CUDA allocator's cached, unused blocks back to the driver (after an
        out-of-memory failure, so that the next request starts from what is really in use).
        Nothing to do off CUDA."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def release(self) -> None:
        """Free the weights now, not whenever the last reference to this object goes (before
        loading another model: two at once may not fit). The object is unusable afterwards."""
        self.model = None
        if self.compiled:
            # its graphs would stay in dynamo's caches, keyed on layer code every model shares, and
            # count against the recompile limit of the next model (engine/compilation.py)
            import torch._dynamo

            torch._dynamo.reset()
        gc.collect()
        self.release_cached_memory()

    @property
    def identity(self) -> str:
        """A hex digest of what this model computes (:mod:`tokenlight.engine.identity`): the key's
        model part. Fixed at load time for a model loaded from a folder; recomputed on every read
        for one built in memory, whose owner may edit it."""
        if self.files is None:
            return model_identity(self)
        if self._identity is None:
            self._identity = model_identity(self)
        return self._identity

    def files_changed(self) -> bool:
        """True when the folder this model was loaded from no longer matches it (a file rewritten,
        added or removed since), or when its Hub id now resolves to another snapshot (a newer
        revision in the cache): the resident weights are stale and must be reloaded."""
        if self.folder is None:
            return False
        try:
            if self.source is not None and _model_folder(self.source) != self.folder:
                return True
            return folder_fingerprint(self.folder) != self.files
        except OSError:
            return True  # the folder went away or became unreadable: whatever is there now is not this


def pick_device(device: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU. Anything else is passed to ``torch.device``."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise TokenlightError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TokenlightError(f"device {device!r} asked for, but this PyTorch sees no CUDA GPU; use --device cpu")
    return dev


_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 on a CUDA GPU that supports it, float32 everywhere else (CPU gradients
    in bf16 are both slower to trust and, on most CPUs, not faster)."""
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise TokenlightError(f"unknown dtype {dtype!r}: use auto, float32, bfloat16 or float16")
    return _DTYPES[dtype]


def resolve_model_path(name_or_path: str | None, *, allow_download: bool) -> tuple[str, str]:
    """(display name, what to pass to ``from_pretrained``), or a clear error."""
    if name_or_path is None or name_or_path in ("", EMBEDDED_MODEL_NAME):
        if not (EMBEDDED_MODEL_PATH / "config.json").exists():
            raise ModelNotFoundError(
                f"the embedded model is missing from {EMBEDDED_MODEL_PATH}; reinstall Tokenlight "
                "or run training/train_tiny_py.py export"
            )
        return EMBEDDED_MODEL_NAME, str(EMBEDDED_MODEL_PATH)
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(
                f"{path} exists but has no config.json: point at a folder saved with save_pretrained()"
            )
        return name_or_path, str(path)
    # a Hub id is "name" or "owner/name"; anything else is a path the user expected to exist
    looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1 or "\\" in name_or_path
    if looks_like_path:
        raise ModelNotFoundError(f"no model folder at {path}")
    if not allow_download:
        from huggingface_hub import constants as hub_constants
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name_or_path, "config.json")
        if not isinstance(cached, str):
            raise ModelNotCachedError(name_or_path, str(hub_constants.HF_HUB_CACHE))
    return name_or_path, name_or_path


def _model_kind(config: Any, name: str = "the model") -> str:
    """Causal LM or sequence classifier, from the architectures the checkpoint declares.

    We check against transformers' own auto-class tables because ``AutoModelForCausalLM`` will
    happily load a bare encoder (``BertModel``) with a freshly initialised, random LM head: that
    would attribute noise without a word of warning.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    archs = getattr(config, "architectures", None) or []
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return SEQUENCE_CLASSIFIER
    seq2seq = set(MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES.values())
    if any(a in seq2seq or a.endswith("ForConditionalGeneration") for a in archs) or (
        not archs and getattr(config, "is_encoder_decoder", False)
    ):
        return SEQ2SEQ_LM
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if archs and not any(a in causal or a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        raise UnsupportedModelError(
            f"{name} is a {', '.join(archs)}: neither a causal language model nor a sequence classifier. "
            "Tokenlight attributes AutoModelForCausalLM models (GPT-2, Llama, ...), AutoModelForSeq2SeqLM models "
            "(BART, T5, Marian, ...) and "
            "AutoModelForSequenceClassification models"
        )
    model_type = getattr(config, "model_type", None)
    if not archs and model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        known = (
            ""
            if model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
            else (" (it has a sequence-classification class: save the checkpoint with its architectures set)")
        )
        raise UnsupportedModelError(f"{name} (model type {model_type!r}) has no causal language model class{known}")
    return CAUSAL_LM


def _context_length(config: Any, tokenizer: Any) -> int | None:
    for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10**7 else None


def load_model(
    name_or_path: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    *,
    device_map: str | None = None,
    trust_remote_code: bool = False,
    allow_download: bool = False,
) -> LoadedModel:
    """Load a causal LM or sequence classifier for attribution.

    Args:
        name_or_path (str, optional): ``None`` for the embedded ``tokenlight-tiny-py``; a folder
            saved with ``save_pretrained``; or a Hugging Face id already in the local cache.
        device (str): ``auto`` (CUDA → MPS → CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
        dtype (str): ``auto`` (bf16 on capable GPUs, else float32), ``float32``, ``bfloat16``, ``float16``.
        device_map (str, optional): ``"auto"`` spreads the model over all visible GPUs (needs
            ``accelerate``). Chosen automatically when the weights do not fit the one GPU.
        trust_remote_code (bool): run the model repository's own Python code. Default: False.
        allow_download (bool): fetch from the Hub when not cached. Default: False.
    """
    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # transformers leaves it unannotated
    name, source = resolve_model_path(name_or_path, allow_download=allow_download)
    local_only = not allow_download
    folder = _model_folder(source)
    before = _fingerprint(folder)  # before anything is read: see engine/identity.py
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, local_files_only=local_only)
    except OSError as exc:
        raise ModelNotFoundError(f"cannot read the config of {name!r}: {exc}") from exc
    except ValueError as exc:
        raise UnsupportedModelError(f"{name!r} is not a model transformers can load: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source, trust_remote_code=trust_remote_code, local_files_only=local_only
        )
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load the tokenizer of {name!r}: {exc}") from exc

    kind = _model_kind(config, repr(name))
    dev = pick_device(device)
    torch_dtype = pick_dtype(dtype, dev)
    if device_map is None and dev.type == "cuda" and _too_big_for_one_gpu(source, dev):
        device_map = "auto"
    kwargs: dict[str, Any] = {
        "dtype": torch_dtype,
        "trust_remote_code": trust_remote_code,
        "local_files_only": local_only,
        # safetensors where the folder has them; a pickle checkpoint is loaded with
        # torch.load(weights_only=True) by transformers, which refuses arbitrary code.
        "use_safetensors": None,
    }
    if device_map is not None:
        try:
            import accelerate  # noqa: F401
        except ImportError as exc:
            raise TokenlightError(
                "device_map='auto' needs the accelerate package: pip install 'tokenlight[gpu]'"
            ) from exc
        kwargs["device_map"] = device_map
    auto_cls = _auto_class(kind)
    try:
        # transformers types from_pretrained as returning the model even with output_loading_info (a pair)
        model, info = auto_cls.from_pretrained(source, output_loading_info=True, **kwargs)  # type: ignore[misc]
    except ValueError as exc:
        raise UnsupportedModelError(
            f"{name!r} ({type(config).__name__}) is neither a causal or encoder-decoder language model nor a "
            "sequence classifier that transformers can load; Tokenlight attributes AutoModelForCausalLM, "
            "AutoModelForSeq2SeqLM and "
            f"AutoModelForSequenceClassification models ({exc})"
        ) from exc
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load the weights of {name!r}: {exc}") from exc
    except pickle.UnpicklingError as exc:
        # torch.load(weights_only=True) refused a pickle that would build arbitrary objects
        raise UnsupportedModelError(
            f"refused to load {name!r}: its PyTorch checkpoint holds objects other than tensors, which could run "
            "code when unpickled. Convert a trusted copy to safetensors (model.save_pretrained(...)) and load that"
        ) from exc
    missing = [k for k in info.get("missing_keys", []) if k not in _tied_keys(model)]
    if missing:
        raise UnsupportedModelError(
            f"{name!r} lacks weights its {type(model).__name__} needs ({', '.join(sorted(missing)[:4])}"
            f"{', ...' if len(missing) > 4 else ''}): attributing randomly initialised layers would be noise. "
            "Is this checkpoint a base model without its language-model or classification head?"
        )
    if device_map is None:
        model.to(dev)
    else:
        dev = input_device(model)  # a parameter may be offloaded (meta); inputs go where the embedding runs
    model.eval()
    model.requires_grad_(False)
    if kind == CAUSAL_LM and tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    folder = folder or _model_folder(source)  # a download has just created it
    return LoadedModel(
        model,
        tokenizer,
        name,
        kind,
        dev,
        torch_dtype,
        _context_length(config, tokenizer),
        folder=folder,
        files=_settled_fingerprint(folder, before),
        source=source,
    )


def _model_folder(source: str) -> Path | None:
    """The folder ``from_pretrained(source)`` reads: ``source`` itself, or a cached Hub id's
    snapshot folder; None when the id is not (yet) in the cache."""
    path = Path(source)
    if path.is_dir():
        return path
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source, "config.json")
    return Path(cached).parent if isinstance(cached, str) else None


def _fingerprint(folder: Path | None) -> dict[str, list[Any]] | None:
    return None if folder is None else folder_fingerprint(folder)


def _settled_fingerprint(folder: Path | None, before: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
    """The folder's fingerprint, or a marker that matches no folder when a file changed while it
    was read (the loaded weights may be either version: their results must never be reused, and
    the next request reloads). None (weights digested in memory) when there is no folder."""
    after = _fingerprint(folder)
    if before is not None and after != before:
        log.warning("the files in %s changed while they were loaded; this load's results are not reused", folder)
        return {"changed during load": [uuid.uuid4().hex]}
    return after


def _tied_keys(model: Any) -> set[str]:
    tied = getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {}
    return set(tied if not isinstance(tied, dict) else tied.keys())


def _auto_class(
    kind: str,
) -> type[AutoModelForCausalLM] | type[AutoModelForSeq2SeqLM] | type[AutoModelForSequenceClassification]:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification

    if kind == SEQ2SEQ_LM:
        return AutoModelForSeq2SeqLM
    return AutoModelForSequenceClassification if kind == SEQUENCE_CLASSIFIER else AutoModelForCausalLM


def _too_big_for_one_gpu(source: str, device: torch.device) -> bool:
    """True when the weight files of a local folder exceed 90% of the GPU's free memory."""
    path = Path(source)
    if not path.is_dir():
        return False
    size = sum(f.stat().st_size for f in path.glob("*.safetensors")) or sum(
        f.stat().st_size for f in path.glob("*.bin")
    )
    free, _total = torch.cuda.mem_get_info(device)
    return size > 0.9 * free


def from_objects(model: Any, tokenizer: Any, name: str = "custom") -> LoadedModel:
    """Wrap an already built model and tokenizer (tests, notebooks)."""
    model.eval()
    model.requires_grad_(False)
    param = next(model.parameters())
    kind = SEQUENCE_CLASSIFIER if type(model).__name__.endswith("ForSequenceClassification") else CAUSAL_LM
    if kind == CAUSAL_LM and getattr(model.config, "is_encoder_decoder", False):
        kind = SEQ2SEQ_LM
    return LoadedModel(
        model, tokenizer, name, kind, input_device(model), param.dtype, _context_length(model.config, tokenizer)
    )
