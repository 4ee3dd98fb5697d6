"""Input × Gradient (Shrikumar et al. 2016): ⟨x, ∂f/∂x⟩ per token.

Signed; the first-order Taylor term of f against an all-zero input. Same cost as saliency.
"""

from __future__ import annotations

from ..kernel import ReduceFn
from .base import AttributionProblem, register_method
from .gradients import GradientAtInput, dot_with


@register_method
class InputXGradient(GradientAtInput):
    id = "input_x_gradient"
    label = "Input × Gradient"
    summary = "Gradient × input per token (signed, first order)."
    description = (
        "Embedding times its gradient, summed over the embedding: signed, first-order. "
        "1 forward + T backward passes. No convergence delta."
    )

    def _reduce(self, problem: AttributionProblem) -> ReduceFn:
        return dot_with(problem.inputs)
