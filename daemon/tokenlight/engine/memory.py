"""Bounded memory at long contexts: the activation budget, its estimate, and recomputation.

A gradient method keeps, per path point, every layer's activations for its backward passes: about
34·L·d numbers per layer (attention and MLP inputs, the 4d-wide MLP, norms). At L = 8k on a wide
model one point alone can exceed what the machine has, and halving the chunk cannot go below one
point. Then each decoder layer is run under activation checkpointing (``torch.utils.checkpoint``,
non-reentrant): the forward keeps only each layer's input (L·d), and every backward pass recomputes
one layer at a time. The numbers are the same (the recomputation is the same forward); each backward
pass costs about one more forward. transformers' own ``gradient_checkpointing_enable`` acts only in
training mode, which would also switch dropout on: so we wrap the layers ourselves, in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

ACTIVATIONS_PER_LAYER = 34  # numbers kept per position and hidden unit in one layer (see above)
CPU_BUDGET = 2 * 1024**3


def memory_budget(device: torch.device, budget_mb: int | None) -> int:
    """Bytes one pass may use for activations: the ``memory_budget`` option (MiB) when given, else
    half the free memory of a GPU, or 2 GiB on a CPU."""
    if budget_mb is not None:
        return budget_mb * 1024**2
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 2)
    return CPU_BUDGET


def bytes_per_point(
    seq_len: int, hidden: int, n_layers: int, vocab_rows: int, element_bytes: int, *, checkpointed: bool = False
) -> int:
    """The activations one path point keeps for its backward passes (estimate). Checkpointed: each
    layer's input, plus one layer's activations while it is recomputed."""
    layers = max(n_layers, 1)
    if checkpointed:
        kept = seq_len * hidden * layers + ACTIVATIONS_PER_LAYER * seq_len * hidden
    else:
        kept = ACTIVATIONS_PER_LAYER * seq_len * hidden * layers
    return element_bytes * (kept + 2 * vocab_rows)


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's repeated decoder layers (transformers marks them ``GradientCheckpointingLayer``)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]


@contextmanager
def replaced_forwards(
    layers: list[torch.nn.Module], wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Iterator[int]:
    """Within the block, each layer's ``forward`` is ``wrap(forward)`` (an instance attribute);
    afterwards each has the ``forward`` it had before, so that wrappers nest (recomputation
    inside compilation). Yields how many layers were wrapped."""
    before = [vars(layer).get("forward") for layer in layers]
    for layer in layers:
        layer.forward = wrap(layer.forward)
    try:
        yield len(layers)
    finally:
        for layer, forward in zip(layers, before, strict=True):
            if forward is None:
                del layer.forward
            else:
                layer.forward = forward


@contextmanager
def recomputed_layers(model: torch.nn.Module) -> Iterator[int]:
    """Within the block, every decoder layer that runs with gradients keeps only its input and is
    recomputed in the backward pass. Yields how many layers were wrapped (0: none found, so nothing
    changes)."""
    from torch.utils.checkpoint import checkpoint

    def wrap(forward: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            if not torch.is_grad_enabled():
                return forward(*args, **kwargs)
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)

        return run

    with replaced_forwards(decoder_layers(model), wrap) as count:
        yield count
