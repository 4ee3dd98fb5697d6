"""The vocabulary's vectors as the model sees them: through its input embedding module.

A method that takes vectors from the vocabulary (Discretized IG's anchors, GradientSHAP's noise
scale) must take them from the same place as the input x: the embedding module's *output*. Some
modules transform their weight: Gemma, Gemma 2 and Gemma 3 multiply it by √d, so the raw weight
matrix is 1/√d of every input the model actually receives (a DIG path built from it ended 8× short
of x on a tiny Gemma). Reading the module's output covers such models and any future scaling.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from .placement import execution_device

# token ids per call: the output of one chunk is chunk × d, small next to the weight itself
CHUNK = 16_384


@torch.no_grad()
def vocabulary_vectors(model: Any) -> torch.Tensor:
    """``[V, d]``: every token's vector as ``model.get_input_embeddings()`` outputs it (detached)."""
    return torch.cat(list(_vocabulary_chunks(model)))


@torch.no_grad()
def vocabulary_std(model: Any) -> float:
    """The standard deviation of all entries of :func:`vocabulary_vectors`, without holding them
    all at once (a 256k-token vocabulary is gigabytes)."""
    count, total, squares = 0, 0.0, 0.0
    for chunk in _vocabulary_chunks(model):
        values = chunk.double()
        count, total, squares = count + values.numel(), total + float(values.sum()), squares + float((values**2).sum())
    mean = total / count
    # unbiased, as torch.std; float(): typeshed types float ** float as Any (a negative base gives a complex)
    return float(max(squares / count - mean**2, 0.0) ** 0.5 * (count / max(count - 1, 1)) ** 0.5)


def _vocabulary_chunks(model: Any) -> Iterator[torch.Tensor]:
    embedding = model.get_input_embeddings()
    ids = torch.arange(embedding.weight.shape[0], device=execution_device(embedding))
    for start in range(0, ids.shape[0], CHUNK):
        yield embedding(ids[start : start + CHUNK]).detach()
