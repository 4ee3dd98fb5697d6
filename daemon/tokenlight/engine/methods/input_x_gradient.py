"""Input × Gradient (Shrikumar et al. 2016): ⟨x, ∂f/∂x⟩ per token.

Signed; the first-order Taylor term of f against an all-zero input. Same cost as saliency.
"""

from __future__ import annotations

import torch

from ..kernel import accumulate_path_gradients
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import dot_with


@register_method
class InputXGradient(AttributionMethod):
    id = "input_x_gradient"
    label = "Input × Gradient"
    description = (
        "Embedding times its gradient, summed over the embedding: signed, first-order. "
        "1 forward + T backward passes. No convergence delta."
    )
    family = "gradient"
    parameters = ("internal_batch_size",)

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        one = torch.ones(1, dtype=torch.float64)
        scores = accumulate_path_gradients(
            problem.target_fn,
            problem.inputs,
            problem.inputs,
            one,
            one,
            dot_with(problem.inputs),
            n_targets=problem.n_targets,
            chunk_size=1,
            hooks=problem.hooks,
        )
        return MethodOutput(scores)
