"""The per-layer view: how one target's attribution forms through the depth.

For one target, layer Integrated Gradients (captum's ``LayerIntegratedGradients``) at the residual
stream after every block: row l is Σ_k w_k · ∂f/∂h_l(h_l(x′) + α_k (h_l(x) − h_l(x′))) · (h_l(x) −
h_l(x′)) summed over the hidden size, a ``layers × tokens`` matrix. Each row is complete at its own
layer (Σ row_l = f(x) − f(x′), up to the quadrature's error: ``deltas``), because h_l(x′) is what the
baseline input produces there.

Why layer IG and not layer gradient × activation: gradient × activation would be one backward pass,
but it is not complete (its rows do not add up to the output change, so rows at two depths cannot be
compared as shares of the same quantity), and its "activation" has no reference point: attention
mixes positions, so a token that equals the baseline still has h_l(x) ≠ h_l(x′) above layer 0.

Cost: all layers' paths go through **one forward per chunk** of (layer, point) rows, not one run per
layer. Every row carries the real input; a forward hook on each block replaces, for the rows of that
block's layer only, its output by the row's path point (a leaf of the graph). One backward of the
target's value then gives every leaf's gradient at once, since a row depends only on its own leaf.
The rows of layer l also run the blocks below l on the input, which the path does not need: that is
the price of one forward, and a small one next to L separate runs (each with its own passes above).
h_l(x) and h_l(x′) for every l come from one forward over x and x′, with hooks on every block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .errors import InputError
from .kernel import Hooks, in_chunks
from .layers import transformer_blocks
from .quadrature import quadrature

DEFAULT_STEPS = 32  # Gauss-Legendre points per layer when n_steps is not given (deltas ~1e-6 here)


def resolve_target(requested: int, n_targets: int) -> int:
    """``requested`` (negative counts from the end) as an index, or an error naming the range."""
    if not -n_targets <= requested < n_targets:
        raise InputError(
            f"per_layer target {requested} does not exist: this result has {n_targets} target(s) "
            f"(0..{n_targets - 1}, or -1..-{n_targets})"
        )
    return requested % n_targets


def per_layer(
    model: Any,
    target_fn: Any,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    *,
    n_steps: int,
    integration: str,
    chunk_size: Any,
    hooks: Hooks,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer IG of the one target of ``target_fn`` at every block's output.

    Args:
        model: the model whose blocks are found (:func:`.layers.transformer_blocks`).
        target_fn: embeddings ``[n, P, d]`` -> one target value per row (a list of one ``[n]``
            tensor), the target predicted at the last of the P positions.
        inputs, baselines (Tensor): ``[P, d]`` the input and baseline embeddings.
        n_steps, integration: the path's quadrature (:func:`.quadrature.quadrature`).
        chunk_size (callable): rows per forward for a given row count.
        hooks: progress and cancellation, checked between chunks.

    Returns:
        (scores float64 ``[n_layers, P]``, f at (x, x′) float64 ``[2]``).
    """
    blocks = list(transformer_blocks(model))
    n_layers = len(blocks)
    with torch.no_grad(), _captured(blocks) as seen:
        values = target_fn(torch.stack([inputs, baselines]))[0].to(torch.float64)
    if any(len(s) != 1 for s in seen):
        raise InputError("a block ran more or less than once in one forward; the per-layer view needs each to run once")
    h_x = [s[0][0] for s in seen]  # [P, d] per layer
    h_b = [s[0][1] for s in seen]
    alphas_np, weights_np = quadrature(integration, n_steps)
    alphas = torch.tensor(alphas_np, device=inputs.device)
    weights = torch.tensor(weights_np, device=inputs.device, dtype=torch.float64)
    n_rows = n_layers * n_steps
    done = [0]

    def run(start: int, stop: int) -> torch.Tensor:
        hooks.check()
        part = torch.zeros(n_layers, inputs.shape[0], dtype=torch.float64, device=inputs.device)
        leaves: dict[int, tuple[int, int, torch.Tensor]] = {}  # layer -> (first row, stop row, leaf)
        for layer in range(start // n_steps, (stop - 1) // n_steps + 1):
            a, b = max(start, layer * n_steps), min(stop, (layer + 1) * n_steps)
            alpha = alphas[a - layer * n_steps : b - layer * n_steps].to(h_x[layer].dtype).view(-1, 1, 1)
            point = h_b[layer] + alpha * (h_x[layer] - h_b[layer])
            leaves[layer] = (a - start, b - start, point.detach().requires_grad_(True))
        batch = inputs.unsqueeze(0).expand(stop - start, -1, -1)
        with torch.enable_grad(), _replaced(blocks, leaves):
            value = target_fn(batch)[0]
            grads = torch.autograd.grad(value.sum(), [leaf for _, _, leaf in leaves.values()])
        for (layer, (a, b, _)), grad in zip(leaves.items(), grads, strict=True):
            first = start + a - layer * n_steps
            w = weights[first : first + (b - a)].view(-1, 1)
            change = (h_x[layer] - h_b[layer]).to(torch.float64)
            part[layer] = (w * (grad.to(torch.float64) * change).sum(-1)).sum(0)
        done[0] += stop - start
        hooks.report(done[0], n_rows, f"per-layer view: {done[0]} of {n_rows} layer points")
        return part

    parts = in_chunks(n_rows, chunk_size(n_rows), run, inputs.device)
    return torch.stack(parts).sum(0), values


@contextmanager
def _captured(blocks: list[torch.nn.Module]) -> Iterator[list[list[torch.Tensor]]]:
    """Every block's (first) output during the forwards inside, per block."""
    seen: list[list[torch.Tensor]] = [[] for _ in blocks]
    handles = []
    for i, block in enumerate(blocks):

        def hook(module: torch.nn.Module, args: Any, output: Any, i: int = i) -> None:
            seen[i].append((output[0] if isinstance(output, tuple) else output).detach())

        handles.append(block.register_forward_hook(hook))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _replaced(blocks: list[torch.nn.Module], leaves: dict[int, tuple[int, int, torch.Tensor]]) -> Iterator[None]:
    """Block l outputs ``leaf`` in rows a..b (its layer's rows) and what it computed elsewhere."""
    handles = []
    for layer, (a, b, leaf) in leaves.items():

        def hook(module: torch.nn.Module, args: Any, output: Any, a: int = a, b: int = b, leaf: Any = leaf) -> Any:
            first = output[0] if isinstance(output, tuple) else output
            new = torch.cat([first[:a], leaf.to(first.dtype), first[b:]])
            return (new, *output[1:]) if isinstance(output, tuple) else new

        handles.append(blocks[layer].register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
