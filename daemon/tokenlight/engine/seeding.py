"""Seeded randomness that leaves the caller's random state as it was, keyed by what it is for.

A result must not depend on how a request was split (targets grouped, batched, asked alone or among
others), so randomness is never drawn for "the group" or "the i-th target of this call". It is drawn
from a stream keyed by the user's seed and the absolute position it belongs to (a target's position,
an input position), so that the same position gets the same numbers in every split.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

# stream names, so that two uses of one position never share numbers
TARGET_STREAM = 1  # a target's own sampling (LIME / KernelSHAP perturbations)
POSITION_STREAM = 2  # noise on one input position (GradientSHAP / DeepLiftSHAP baselines)
SHARED_STREAM = 3  # numbers every target shares (GradientSHAP's points on the path)
ORDER_STREAM = 4  # a target's random removal orders (faithfulness.py's "better than random")
SANITY_STREAM = 5  # the re-initialised weights of the model-randomisation check (sanity.py)
MASK_STREAM = 6  # a span's keep/drop bits in context_ablation's random masks


def keyed_seed(seed: int, *key: int) -> int:
    """A 63-bit seed derived from ``seed`` and ``key`` (e.g. a stream name and a position): distinct
    keys give independent streams, the same key always the same one."""
    entropy = [int(v) % 2**64 for v in (seed, *key)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def keyed_generator(seed: int, *key: int) -> torch.Generator:
    """A CPU generator for the stream ``(seed, *key)`` (see :func:`keyed_seed`)."""
    return torch.Generator(device="cpu").manual_seed(keyed_seed(seed, *key))


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Inside: torch's global generators seeded with ``seed`` (sampled generation, captum's own
    sampling). After: the CPU state, and the CUDA state of ``device`` when it is a GPU, restored."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
