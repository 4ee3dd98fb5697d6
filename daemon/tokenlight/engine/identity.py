"""What a model computes, as one hex digest: the model part of every results-cache key.

The rule: no edit of the weights, the config or the tokenizer may leave the digest unchanged, and
neither may another library version, dtype or device (each can change a score). Hashing every
weight byte would satisfy that trivially, but it measured 2 s per GB of weights here
(``benchmarks/bench_identity.py``; the figures are in ``benchmarks/RESULTS.md``), and a multi-GB
model must not load seconds slower for it; the fingerprint below measured under 15 ms per load.
So the weights enter in one of two ways:

- **loaded from a folder**: the folder's files as the file system describes them
  (:func:`folder_fingerprint`), taken *before* the weights are read, so that a file rewritten during
  the load can only make the key describe the older state, which never recurs (see ``ctime`` below);
- **built in memory** (:func:`~tokenlight.engine.models.from_objects`): a sha256 of every parameter
  and buffer (:func:`tensors_digest`), taken each time the digest is asked for, since whoever built
  the model may edit it in place at any time.

A folder-loaded :class:`~tokenlight.engine.models.LoadedModel` describes its files at load time;
editing its tensors in place afterwards is not noticed (the daemon never does; wrap an edited model
with ``from_objects`` instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import torch


class _Identified(Protocol):
    """What the identity reads of a :class:`~tokenlight.engine.models.LoadedModel` (structural, so
    that this module and models.py, which calls it, do not import each other)."""

    files: dict[str, Any] | None
    model: Any
    kind: str
    device: torch.device
    tokenizer: Any

    @property
    def dtype_name(self) -> str: ...  # a property of LoadedModel


# the packages whose code turns weights into scores
VERSIONED_PACKAGES = ("torch", "transformers", "captum", "tokenizers")
# where and with what a config was saved is not what the model computes
_VOLATILE_CONFIG_KEYS = ("_name_or_path", "transformers_version", "_commit_hash")
_SAFETENSORS_HEADER_MAX = 100 * 1024 * 1024  # the format's own limit on the JSON header


def model_identity(lm: _Identified) -> str:
    """The sha256 hex digest of everything that decides what ``lm`` computes (see the module doc)."""
    weights = lm.files if lm.files is not None else {"tensors": tensors_digest(lm.model)}
    material = {
        "kind": lm.kind,
        "dtype": lm.dtype_name,
        "device": lm.device.type,
        "device_map": getattr(lm.model, "hf_device_map", None),
        "versions": library_versions(),
        "config": config_material(lm.model.config),
        "tokenizer": tokenizer_digest(lm.tokenizer),
        "weights": weights,
    }
    canonical = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of tokenlight and of :data:`VERSIONED_PACKAGES` ("absent" for one not installed)."""
    from ..version import __version__

    versions = {"tokenlight": __version__}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def config_material(config: Any) -> dict[str, Any]:
    """The model config as a dict, without the fields that say where it was saved."""
    material: dict[str, Any] = config.to_dict()
    for volatile in _VOLATILE_CONFIG_KEYS:
        material.pop(volatile, None)
    return material


def tokenizer_digest(tokenizer: Any) -> str:
    """sha256 of the tokenizer's serialised JSON (vocabulary, merges, normalizer, pre-tokenizer,
    post-processor, added tokens) plus the settings kept outside it (special tokens, chat
    template, padding side). A tokenizer without a ``tokenizers`` backend enters as its vocabulary."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    serialised = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    settings = {
        "class": type(tokenizer).__name__,
        "special": {
            name: getattr(tokenizer, name, None)
            for name in ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token", "sep_token", "cls_token")
        },
        "chat_template": getattr(tokenizer, "chat_template", None),
        "padding_side": getattr(tokenizer, "padding_side", None),
        "length": len(tokenizer),
    }
    digest = hashlib.sha256(serialised.encode("utf-8"))
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()


def tensors_digest(model: torch.nn.Module) -> str:
    """sha256 of every parameter and buffer: name, dtype, shape and every byte (full, no sampling)."""
    digest = hashlib.sha256()
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        digest.update(name.encode())
        _update(digest, tensor)
    return digest.hexdigest()


def tensor_digest(tensor: torch.Tensor) -> str:
    """sha256 of one tensor's dtype, shape and every byte."""
    digest = hashlib.sha256()
    _update(digest, tensor)
    return digest.hexdigest()


def _update(digest: Any, tensor: torch.Tensor) -> None:
    with torch.no_grad():
        data = tensor.detach().contiguous().cpu().reshape(-1)
        digest.update(f"|{data.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")


def folder_fingerprint(folder: Path) -> dict[str, list[Any]]:
    """Each regular file directly in ``folder`` (what ``from_pretrained`` reads: weights, shard
    index, config, tokenizer files) as the file system describes it, without reading its data:

    - size: truncation, appended data, a re-save with other tensors;
    - mtime (ns): any write, including an in-place edit of one element, which keeps size and header;
    - ctime (ns): a write whose mtime was put back (``touch -r``, ``cp -p`` or ``rsync -t`` over the
      file): the kernel sets ctime to now on every change of data or metadata and no tool can set
      it back. (On Windows before Python 3.12 ``st_ctime`` is the creation time; mtime still applies);
    - inode and device: the file replaced by another one (a rename into place, a new snapshot);
    - the resolved path: in a Hugging Face cache snapshot each file is a link to a blob named by the
      content's hash, so a new revision is a new name;
    - for ``*.safetensors``, a sha256 of the JSON header (every tensor's name, dtype, shape and
      offsets): a different layout even where the timestamps are too coarse to tell (FAT's 2 s).

    Hidden files (``.DS_Store``, editor swap files, lock files) are left out: ``from_pretrained``
    reads none, and one that changes would reload the model for nothing. Any other file that
    changes, a log in the folder included, makes the daemon reload: a needless reload costs time, a
    missed change a wrong result.

    What it cannot see: a write on a file system with coarse timestamps, within one tick of the
    load, that keeps the size and the header. Renaming the folder is a new key (a needless miss).
    """
    entries: dict[str, list[Any]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        st = entry.stat()
        item: list[Any] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, os.path.realpath(entry)]
        if entry.suffix == ".safetensors":
            item.append(safetensors_header_digest(entry))
        entries[entry.name] = item
    return entries


def safetensors_header_digest(path: Path) -> str:
    """sha256 of a safetensors file's length prefix and JSON header ("short" for a file too short to
    have one: the loader will report it)."""
    with path.open("rb") as fh:
        prefix = fh.read(8)
        if len(prefix) < 8:
            return "short"
        (length,) = struct.unpack("<Q", prefix)
        header = fh.read(min(length, _SAFETENSORS_HEADER_MAX))
    return hashlib.sha256(prefix + header).hexdigest()
