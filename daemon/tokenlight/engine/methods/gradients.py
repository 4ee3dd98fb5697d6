"""Per-token reductions of embedding gradients, shared by the gradient-based methods.

Each maps one chunk's gradients ``[n, L, d]`` (and the points they were taken at) to unweighted
per-point, per-token terms ``[n, L]`` in float64; the kernel applies quadrature weights.
"""

from __future__ import annotations

from abc import abstractmethod

import torch

from ..kernel import ReduceFn, accumulate_path_gradients
from .base import AttributionMethod, AttributionProblem, MethodOutput


def dot_with(direction: torch.Tensor) -> ReduceFn:
    """⟨gᵢ, direction⟩ per token: IG with ``direction = x − x′``, input×gradient with x.
    ``direction`` is ``[L, d]``, or ``[n_points, L, d]`` for one per point (GradientSHAP)."""
    direction64 = direction.to(torch.float64)
    per_point = direction64.dim() == 3

    def reduce(grads: torch.Tensor, points: torch.Tensor, rows: slice) -> torch.Tensor:
        return (grads.to(torch.float64) * (direction64[rows] if per_point else direction64)).sum(-1)

    return reduce


def abs_sum(grads: torch.Tensor, points: torch.Tensor, rows: slice) -> torch.Tensor:
    """Σ_d |gᵢ,d| per token: captum's Saliency (abs=True) summed over the embedding."""
    return grads.to(torch.float64).abs().sum(-1)


class GradientAtInput(AttributionMethod):
    """Single-point gradient methods: one forward at x and T backward passes (the batched kernel
    with one point and weight 1). Subclasses say how a gradient becomes a per-token number."""

    family = "gradient"
    recomputable = True
    parameters = ("internal_batch_size",)
    supports_layer = True

    @abstractmethod
    def _reduce(self, problem: AttributionProblem) -> ReduceFn: ...

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        return MethodOutput(gradient_terms_at_input(problem, self._reduce(problem)))


def gradient_terms_at_input(problem: AttributionProblem, reduce: ReduceFn) -> torch.Tensor:
    """``reduce`` of the gradients at x itself, all targets: 1 forward + T backward (the batched
    kernel with one point of weight 1). ``[T, L]`` float64."""
    one = torch.ones(1, dtype=torch.float64)
    return accumulate_path_gradients(
        problem.target_fn,
        problem.inputs,
        problem.inputs,
        one,
        one,
        reduce,
        n_targets=problem.n_targets,
        chunk_size=1,
        hooks=problem.hooks,
    )
