"""The batched gradient kernel.

The peers (inseq, captum's LLMGradientAttribution) run a whole attribution once per generated
token on a growing prefix: T targets × n points forward *and* backward passes. In a causal model the
logit at position p depends only on positions ≤ p, so one forward over the full sequence
(prompt + continuation) gives every target's value at once, and all T gradients come from that one
graph. We do one forward per chunk of interpolation points and T backward passes over the retained
graph: when this kernel was written (2-core CPU, the embedded model, T = 4–32) that loop measured
faster than ``is_grads_batched`` (vmap), and replicating the batch per target slower still. No script
in benchmarks/ repeats that comparison: measure again before choosing otherwise (on a GPU, say).

Gradients are reduced to one number per token as soon as they exist, so memory is O(T·L) for the
result plus one chunk's activations, and accumulated in float64 so that the chunk size
(``internal_batch_size``) never changes a result beyond float32 rounding of the per-point terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch

from .errors import AttributionCancelled, OutOfMemoryAtOnePoint


class TargetFn(Protocol):
    """emb ``[n, L, d]`` -> T target values, each ``[n]``, each its own subgraph over the shared
    forward. ``unchanged_prefix=k`` promises that positions < k of every row equal the unperturbed
    input, so that their keys and values may be computed once and reused (perturbation methods,
    without gradients); a target function may ignore it."""

    def __call__(self, emb: torch.Tensor, unchanged_prefix: int = 0) -> list[torch.Tensor]: ...


# gradients [n, L, d], the chunk's points [n, L, d], the chunk's rows among all points ->
# unweighted per-point, per-token terms [n, L] (float64)
ReduceFn = Callable[[torch.Tensor, torch.Tensor, slice], torch.Tensor]
ChunkResult = TypeVar("ChunkResult")


MAX_POINTS_PER_PASS_CPU = 64
MAX_POINTS_PER_PASS_GPU = 512


@dataclass
class Hooks:
    """How a long computation talks to its caller between chunks.

    ``progress(done, total, message)`` is called after every backward pass; ``is_cancelled()`` is
    polled at the same moments and raises :class:`AttributionCancelled` when it returns True.
    """

    progress: Callable[[int, int, str], None] | None = None
    is_cancelled: Callable[[], bool] | None = None

    def check(self) -> None:
        if self.is_cancelled is not None and self.is_cancelled():
            raise AttributionCancelled("attribution cancelled")

    def report(self, done: int, total: int, message: str) -> None:
        if self.progress is not None:
            self.progress(done, total, message)


def accumulate_path_gradients(
    target_fn: TargetFn,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    reduce: ReduceFn,
    *,
    n_targets: int,
    chunk_size: int,
    hooks: Hooks | None = None,
) -> torch.Tensor:
    """Σᵢ wᵢ · reduce(∇ f_t at x′ + αᵢ(x − x′)) for every target t: float64 ``[T, L]``.

    Args:
        target_fn: embeddings ``[n, L, d]`` -> T target values ``[n]``.
        inputs (Tensor): ``[L, d]`` input embeddings.
        baselines (Tensor): ``[L, d]`` baseline embeddings, or ``[n_points, L, d]``: one per point
            (GradientSHAP's sampled baselines).
        alphas, weights (Tensor): ``[n_points]`` path positions and quadrature weights (float64).
        reduce: one chunk's gradients ``[n, L, d]`` -> per-point, per-token terms ``[n, L]``.
        n_targets (int): T.
        chunk_size (int): interpolation points per forward (``internal_batch_size``).
    """
    return _accumulate(
        target_fn, inputs, baselines, alphas, weights, reduce, n_targets=n_targets, chunk_size=chunk_size, hooks=hooks
    )


def path_gradient_terms(
    target_fn: TargetFn,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    alphas: torch.Tensor,
    reduce: ReduceFn,
    *,
    n_targets: int,
    chunk_size: int,
    hooks: Hooks | None = None,
    targets: list[int] | None = None,
) -> torch.Tensor:
    """The unweighted terms reduce(∇ f_t at each point): float64 ``[n_points, T', L]``, for
    adaptive quadrature, which re-weights the same points as it adds more. ``targets``: only these
    targets' backward passes (T' of them, in that order; default all T): a target whose delta has
    converged needs no more."""
    return _accumulate(
        target_fn,
        inputs,
        baselines,
        alphas,
        None,
        reduce,
        n_targets=n_targets,
        chunk_size=chunk_size,
        hooks=hooks,
        targets=targets,
    )


def in_chunks(
    n_items: int, chunk_size: int, run_chunk: Callable[[int, int], ChunkResult], device: torch.device
) -> list[ChunkResult]:
    """``[run_chunk(start, stop) for each chunk of [0, n_items)]``: the one memory-aware chunker
    every method's passes go through.

    On out-of-memory the chunk size is halved and the whole run starts again: restarting (rather
    than resuming) keeps the summation order of a run with the smaller chunk size, and results never
    depend on the chunk size beyond float32 rounding anyway.
    """
    return with_oom_fallback(
        lambda chunk: [run_chunk(start, min(start + chunk, n_items)) for start in range(0, n_items, chunk)],
        max(1, min(chunk_size, n_items)),
        device,
    )


def with_oom_fallback(run: Callable[[int], ChunkResult], chunk_size: int, device: torch.device) -> ChunkResult:
    """``run(chunk_size)``; on out-of-memory halve the chunk size and start again (for callers whose
    chunking happens inside a library, e.g. captum's ``perturbations_per_eval``)."""
    while True:
        try:
            return run(chunk_size)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not _is_out_of_memory(exc):
                raise
            _release_memory(device)
            if chunk_size <= 1:
                raise OutOfMemoryAtOnePoint(
                    "out of memory even with one path point (or sample) per pass: select less text, ask for "
                    "fewer target tokens, or use a smaller model or a device with more memory"
                ) from None
            chunk_size = max(1, chunk_size // 2)


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc) or "can't allocate memory" in str(exc)


def _release_memory(device: torch.device) -> None:
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _accumulate(
    target_fn: TargetFn,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor | None,
    reduce: ReduceFn,
    *,
    n_targets: int,
    chunk_size: int,
    hooks: Hooks | None = None,
    targets: list[int] | None = None,
) -> torch.Tensor:
    """One forward per chunk of points, a backward pass over its graph per target (of ``targets``).

    With ``weights`` returns Σᵢ wᵢ·termsᵢ as ``[T, L]``; without, the terms ``[n_points, T, L]``.
    """
    hooks = hooks or Hooks()
    n_points = alphas.shape[0]
    wanted = list(range(n_targets)) if targets is None else list(targets)
    total = len(wanted) * n_points
    per_point_baselines = baselines.dim() == 3

    def chunk_terms(start: int, stop: int) -> torch.Tensor:
        """This chunk's terms ``[n, T, L]``, or with ``weights`` their weighted sum ``[T, L]``."""
        hooks.check()
        a = alphas[start:stop].to(device=inputs.device, dtype=inputs.dtype)
        base = baselines[start:stop] if per_point_baselines else baselines.unsqueeze(0)
        points = (base + a.view(-1, 1, 1) * (inputs.unsqueeze(0) - base)).detach().requires_grad_(True)
        out = []
        with torch.enable_grad():
            values = target_fn(points)
            for i, t in enumerate(wanted):
                last = i == len(wanted) - 1
                (grads,) = torch.autograd.grad(values[t].sum(), points, retain_graph=not last)
                terms = reduce(grads, points.detach(), slice(start, stop))  # [n, L]
                if weights is not None:
                    w = weights[start:stop].to(device=inputs.device, dtype=torch.float64)
                    terms = (w.view(-1, 1) * terms).sum(0)
                out.append(terms)
                hooks.report(start * len(wanted) + (i + 1) * (stop - start), total, f"target {t + 1} of {n_targets}")
                if not last:
                    hooks.check()
        return torch.stack(out, dim=-2)  # [n, T, L] or [T, L]

    parts = in_chunks(n_points, chunk_size, chunk_terms, inputs.device)
    return torch.cat(parts) if weights is None else torch.stack(parts).sum(0)


@torch.no_grad()
def evaluate_targets(target_fn: TargetFn, *embeddings: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Target values at each given ``[L, d]`` embedding (e.g. x and x′): ``[len(embeddings), T]``,
    ``chunk_size`` of them per forward (default: all), halved on out-of-memory."""
    batch = torch.stack(embeddings)

    def values(start: int, stop: int) -> torch.Tensor:
        return torch.stack(target_fn(batch[start:stop]), dim=1).to(torch.float64)

    return torch.cat(in_chunks(len(embeddings), chunk_size or len(embeddings), values, batch.device))


def default_chunk_size(
    n_points: int,
    seq_len: int,
    hidden: int,
    n_layers: int,
    vocab_rows: int,
    device: torch.device,
    element_bytes: int,
    *,
    budget: int | None = None,
    checkpointed: bool = False,
) -> int:
    """The most interpolation points whose activations fit the memory we allow ourselves.

    Per point, a transformer keeps roughly 34·L·d activations per layer for its backward pass
    (attention and MLP inputs, the 4d-wide MLP, norms) plus the kept logits (T·V); with the layers
    recomputed, about L·d per layer plus one layer's (:mod:`.memory`). We allow ``budget`` bytes
    (default: half the free GPU memory, or 2 GiB on CPU). The result never depends on this number,
    only the speed.

    It is also capped (64 points on CPU, 512 on a GPU): cancellation and progress happen between
    passes, and a chunk of 4096 points made a cancelled job hold the worker for half a minute on a
    2-core CPU, while batching beyond a few dozen points gains a CPU nothing.
    """
    from .memory import bytes_per_point, memory_budget

    per_point = bytes_per_point(seq_len, hidden, n_layers, vocab_rows, element_bytes, checkpointed=checkpointed)
    allowed = memory_budget(device, None) if budget is None else budget
    cap = MAX_POINTS_PER_PASS_GPU if device.type == "cuda" else MAX_POINTS_PER_PASS_CPU
    return int(max(1, min(n_points, cap, allowed // max(per_point, 1))))
