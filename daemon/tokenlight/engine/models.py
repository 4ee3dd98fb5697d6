"""Loading models: the embedded default, a local folder, or a Hugging Face cache id.

Loading never runs remote code unless the caller sets ``trust_remote_code`` and never downloads
unless the caller sets ``allow_download``: a missing model is an error naming where we looked.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from .errors import ModelNotFoundError, TokenlightError, UnsupportedModelError
from .placement import input_device

EMBEDDED_MODEL_NAME = "tokenlight-tiny-py"
EMBEDDED_MODEL_PATH = Path(__file__).resolve().parents[1] / "assets" / EMBEDDED_MODEL_NAME

CAUSAL_LM = "causal_lm"
SEQUENCE_CLASSIFIER = "sequence_classifier"


@dataclass
class LoadedModel:
    """A model ready for attribution.

    Attributes:
        model: the ``transformers`` model, in eval mode, parameters frozen (we only ever need
            gradients with respect to the input embeddings, so no parameter gradient is computed).
        tokenizer: its fast tokenizer.
        name (str): what the user asked for (``tokenlight-tiny-py`` for the embedded model).
        kind (str): ``causal_lm`` or ``sequence_classifier``.
        device (torch.device): where inputs go (the first device under ``device_map``).
        dtype (torch.dtype): the weights' dtype.
        context_length (int | None): the most tokens the model accepts, if it says.
    """

    model: Any
    tokenizer: Any
    name: str
    kind: str
    device: torch.device
    dtype: torch.dtype
    context_length: int | None

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def embedding(self) -> torch.nn.Module:
        return self.model.get_input_embeddings()

    @cached_property
    def identity(self) -> str:
        """A stable hex digest of what this model computes: config, dtype, tokenizer vocabulary
        size and a strided sample of every parameter. Used to key cached results; hashing every
        weight of a 7B model would take seconds, and a sample changes whenever training does."""
        digest = hashlib.sha256()
        digest.update(f"{self.kind}|{self.dtype}|{len(self.tokenizer)}|".encode())
        config = self.model.config.to_dict()
        for volatile in ("_name_or_path", "transformers_version", "_commit_hash"):
            config.pop(volatile, None)  # where and with what it was saved is not what it computes
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
        with torch.no_grad():
            for name, param in self.model.named_parameters():
                flat = param.detach().reshape(-1)
                step = max(1, flat.numel() // 64)
                sample = flat[::step][:64].float().cpu().numpy().tobytes()
                digest.update(f"{name}{tuple(param.shape)}".encode())
                digest.update(sample)
        return digest.hexdigest()


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
            raise ModelNotFoundError(
                f"no model {name_or_path!r}: not a local folder, and not in the Hugging Face cache "
                f"({hub_constants.HF_HUB_CACHE}); download it first, or allow downloads "
                "(--allow-download / tokenlight.allowDownload)"
            )
    return name_or_path, name_or_path


def _model_kind(config: Any, name: str = "the model") -> str:
    """Causal LM or sequence classifier, from the architectures the checkpoint declares.

    We check against transformers' own auto-class tables because ``AutoModelForCausalLM`` will
    happily load a bare encoder (``BertModel``) with a freshly initialised, random LM head: that
    would attribute noise without a word of warning.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    archs = getattr(config, "architectures", None) or []
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return SEQUENCE_CLASSIFIER
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if archs and not any(a in causal or a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        raise UnsupportedModelError(
            f"{name} is a {', '.join(archs)}: neither a causal language model nor a sequence classifier. "
            "Tokenlight attributes AutoModelForCausalLM models (GPT-2, Llama, ...) and "
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

    hf_logging.disable_progress_bar()
    name, source = resolve_model_path(name_or_path, allow_download=allow_download)
    local_only = not allow_download
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
        model, info = auto_cls.from_pretrained(source, output_loading_info=True, **kwargs)
    except ValueError as exc:
        raise UnsupportedModelError(
            f"{name!r} ({type(config).__name__}) is neither a causal language model nor a sequence "
            "classifier that transformers can load; Tokenlight attributes AutoModelForCausalLM and "
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
    return LoadedModel(model, tokenizer, name, kind, dev, torch_dtype, _context_length(config, tokenizer))


def _tied_keys(model: Any) -> set[str]:
    tied = getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {}
    return set(tied if not isinstance(tied, dict) else tied.keys())


def _auto_class(kind: str):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

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
    return LoadedModel(
        model, tokenizer, name, kind, input_device(model), param.dtype, _context_length(model.config, tokenizer)
    )
