"""Integrated Gradients (Sundararajan et al. 2017) on the input embeddings, batched over targets.

IG_t(token) = Σ_d (x − x′)_d · ∫₀¹ ∂f_t/∂x_d (x′ + α(x − x′)) dα, with the integral by quadrature
(Gauss-Legendre by default). Completeness: Σ_tokens IG_t = f_t(x) − f_t(x′) up to quadrature error,
reported per target as the convergence delta. All T targets share each chunk's forward pass.
"""

from __future__ import annotations

import torch

from ..kernel import accumulate_path_gradients
from ..quadrature import quadrature
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import weighted_dot


@register_method
class IntegratedGradients(AttributionMethod):
    id = "integrated_gradients"
    label = "Integrated Gradients"
    description = (
        "Gradients integrated along the straight path from the baseline to the input embeddings "
        "(Gauss-Legendre quadrature). Satisfies completeness: the scores sum to f(x) − f(x′), and the "
        "convergence delta says how far off the quadrature is. n_steps forwards (chunked) + T·chunks backwards."
    )
    family = "path"
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("n_steps", "baseline", "integration", "internal_batch_size")
    default_n_steps = 32

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        n_steps = int(problem.options.get("n_steps") or self.default_n_steps)
        alphas, weights = quadrature(problem.options.get("integration", "gausslegendre"), n_steps)
        scores = accumulate_path_gradients(
            problem.target_fn,
            problem.inputs,
            problem.baselines,
            torch.from_numpy(alphas),
            torch.from_numpy(weights),
            weighted_dot(problem.inputs - problem.baselines),
            n_targets=problem.n_targets,
            chunk_size=problem.chunk_size(n_steps),
            hooks=problem.hooks,
        )
        return MethodOutput(scores, self.convergence_delta(scores, problem), n_steps, uses_baseline=True)
