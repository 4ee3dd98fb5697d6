"""Models on disk for tests: save one to a folder, then edit one weight element in place.

The edit is what a careless script or a half-finished training step does to a checkpoint: the file
keeps its size and its safetensors header, only a few bytes of data change.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from tokenlight.engine import LoadedModel


def save_model(lm: LoadedModel, folder: Path) -> Path:
    """``save_pretrained`` the model and its tokenizer into ``folder`` (safetensors)."""
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def read_element(path: Path, tensor: str, index: int) -> float:
    """Element ``index`` (flat) of float32 ``tensor`` in a safetensors file, read from the bytes."""
    offset = _element_offset(path, tensor, index)
    with path.open("rb") as fh:
        fh.seek(offset)
        return float(np.frombuffer(fh.read(4), dtype="<f4")[0])


def rewrite_element(path: Path, tensor: str, index: int, value: float) -> None:
    """Overwrite element ``index`` (flat) of float32 ``tensor`` in place: same size, same header."""
    offset = _element_offset(path, tensor, index)
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(np.array([value], dtype="<f4").tobytes())


def _element_offset(path: Path, tensor: str, index: int) -> int:
    with path.open("rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    info = header[tensor]
    assert info["dtype"] == "F32", f"{tensor} is {info['dtype']}, not F32"
    start, end = info["data_offsets"]
    assert 0 <= index < (end - start) // 4
    return 8 + length + start + 4 * index
