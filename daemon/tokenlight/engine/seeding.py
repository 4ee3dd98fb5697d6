"""Seeded randomness that leaves the caller's random state as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Inside: torch's global generators seeded with ``seed`` (sampled generation, captum's own
    sampling). After: the CPU state, and the CUDA state of ``device`` when it is a GPU, restored."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
