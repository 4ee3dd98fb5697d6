"""Saliency (Simonyan et al. 2013): the gradient's magnitude at the input.

Per token: Σ_d |∂f/∂x_d| over the embedding, i.e. captum's ``Saliency(abs=True)`` summed over the
embedding dimension. Always ≥ 0: it says how *sensitive* f is to a token, not in which direction.
One forward and T backward passes for all targets (the batched kernel with one point).
"""

from __future__ import annotations

from ..kernel import ReduceFn
from .base import AttributionProblem, register_method
from .gradients import GradientAtInput, abs_sum


@register_method
class Saliency(GradientAtInput):
    id = "saliency"
    label = "Saliency"
    summary = "Gradient magnitude |∂f/∂x| per token (sensitivity, no sign)."
    description = (
        "Gradient magnitude |∂f/∂x| summed over the embedding: how sensitive the target is to each "
        "token, never its sign. 1 forward + T backward passes. No convergence delta."
    )

    def _reduce(self, problem: AttributionProblem) -> ReduceFn:
        return abs_sum
