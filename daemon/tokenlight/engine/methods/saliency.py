"""Saliency (Simonyan et al. 2013): the gradient's magnitude at the input.

Per token: Σ_d |∂f/∂x_d| over the embedding, i.e. captum's ``Saliency(abs=True)`` summed over the
embedding dimension. Always ≥ 0: it says how *sensitive* f is to a token, not in which direction.
One forward and T backward passes for all targets (the batched kernel with one point).
"""

from __future__ import annotations

import torch

from ..kernel import accumulate_path_gradients
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import abs_sum


@register_method
class Saliency(AttributionMethod):
    id = "saliency"
    label = "Saliency"
    description = (
        "Gradient magnitude |∂f/∂x| summed over the embedding: how sensitive the target is to each "
        "token, never its sign. 1 forward + T backward passes. No convergence delta."
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
            abs_sum,
            n_targets=problem.n_targets,
            chunk_size=1,
            hooks=problem.hooks,
        )
        return MethodOutput(scores)
