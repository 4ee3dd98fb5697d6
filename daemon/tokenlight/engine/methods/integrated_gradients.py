"""Integrated Gradients (Sundararajan et al. 2017) on the input embeddings, batched over targets.

IG_t(token) = Σ_d (x − x′)_d · ∫₀¹ ∂f_t/∂x_d (x′ + α(x − x′)) dα. Completeness: Σ_tokens IG_t =
f_t(x) − f_t(x′), so the convergence delta Σ IG_t − (f_t(x) − f_t(x′)) is the exact error of the
quadrature (for the sum), known for free since the engine computes f(x) and f(x′) anyway.

Two modes:

* adaptive (default, ``n_steps`` not given): the levels of ``quadrature.ADAPTIVE_LEVELS``: 7 Gauss
  points, the 15 Kronrod points that contain them, Patterson's 31 and 63 that contain those (then
  Clenshaw-Curtis 129, 257); each level computes only the points no earlier level had and
  re-weights the gradients already computed. Each target stops as soon as its own
  |delta| ≤ tolerance · |f(x) − f(x′)|: it keeps that level's scores and gets no backward passes at
  the next (they are T of the 1 + T passes per point). Typical prompts stop at 7 or 15 points,
  deep models at 31, instead of a fixed 50.
* fixed (``n_steps`` given): Gauss-Legendre (or a captum Riemann rule) with exactly that many points.

All T targets share each chunk's forward pass (kernel.py).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from ..kernel import accumulate_path_gradients, path_gradient_terms
from ..options import DEFAULT_TOLERANCE
from ..quadrature import ADAPTIVE_LEVELS, adaptive_rule, quadrature
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import dot_with

# |delta| below this is converged whatever f(x) − f(x′) is (float32 forward passes cannot do better)
ABSOLUTE_FLOOR = 1e-6


@register_method
class IntegratedGradients(AttributionMethod):
    id = "integrated_gradients"
    label = "Integrated Gradients"
    summary = "Integrated Gradients on the input embeddings (batched kernel, adaptive quadrature); convergence delta."
    description = (
        "Gradients integrated along the straight path from the baseline to the input embeddings. "
        "Completeness: the scores sum to f(x) − f(x′); the convergence delta is the quadrature's error. "
        "Adaptive by default (adds points until |delta| ≤ tolerance·|f(x) − f(x′)|); fixed Gauss-Legendre "
        "with nSteps. Cost: one forward per chunk of points plus T backward passes per chunk."
    )
    family = "path"
    recomputable = True
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("n_steps", "tolerance", "baseline", "integration", "internal_batch_size")
    default_n_steps = 32
    # the lever of issue 19 (benchmarks/bench_adaptive_stopping.py measures it against False, the
    # earlier rule: every target continues until all have converged)
    per_target_stopping: ClassVar[bool] = True
    # the lever of benchmarks/bench_adaptive_rule.py (against the earlier sequences in quadrature.py)
    adaptive_levels: ClassVar[tuple[int, ...]] = ADAPTIVE_LEVELS
    supports_layer = True

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        rule = problem.options.get("integration", "auto")
        n_steps = problem.options.get("n_steps")
        if n_steps is None and rule == "auto":
            return self._adaptive(problem)
        n_steps = int(n_steps or self.default_n_steps)
        alphas, weights = quadrature(rule, n_steps)
        scores = accumulate_path_gradients(
            problem.target_fn,
            problem.inputs,
            problem.baselines,
            torch.from_numpy(alphas),
            torch.from_numpy(weights),
            dot_with(problem.inputs - problem.baselines),
            n_targets=problem.n_targets,
            chunk_size=problem.chunk_size(n_steps),
            hooks=problem.hooks,
        )
        return MethodOutput(scores, self.convergence_delta(scores, problem), n_steps, uses_baseline=True)

    def _adaptive(self, problem: AttributionProblem) -> MethodOutput:
        """Nested levels until each target converges; a converged target keeps that level's scores
        and gets no backward passes at the next (``per_target_stopping``), so a target's result
        depends on its own convergence only, never on the other targets asked with it."""
        tolerance = float(problem.options.get("tolerance") or DEFAULT_TOLERANCE)
        change = (problem.target_scores - problem.baseline_scores).abs()
        reduce = dot_with(problem.inputs - problem.baselines)
        n_targets = problem.n_targets
        # every point's terms [T, L], keyed by its α (rounded: the two rule families compute the
        # shared middle point α = ½ in different floating-point ways); rows of targets that had
        # stopped when the point was computed stay zero and are never read
        known: dict[float, torch.Tensor] = {}
        scores = torch.zeros(n_targets, problem.inputs.shape[0], dtype=torch.float64, device=problem.inputs.device)
        deltas = torch.zeros(n_targets, dtype=torch.float64, device=problem.inputs.device)
        active = list(range(n_targets))
        level = self.adaptive_levels[0]
        for level in self.adaptive_levels:
            alphas, weights = adaptive_rule(level)
            keys = [round(float(a), 12) for a in alphas]
            new = np.array([i for i, key in enumerate(keys) if key not in known], dtype=np.int64)
            rows = active if self.per_target_stopping else list(range(n_targets))
            if len(new):
                fresh = path_gradient_terms(
                    problem.target_fn,
                    problem.inputs,
                    problem.baselines,
                    torch.from_numpy(alphas[new]),
                    reduce,
                    n_targets=n_targets,
                    chunk_size=problem.chunk_size(len(new)),
                    hooks=problem.hooks,
                    targets=rows,
                )  # [len(new), len(rows), L]
                for j, i in enumerate(new.tolist()):
                    point = torch.zeros((n_targets, fresh.shape[-1]), dtype=fresh.dtype, device=fresh.device)
                    point[rows] = fresh[j]
                    known[keys[i]] = point
            terms = torch.stack([known[key] for key in keys])  # [level, T, L]
            w = torch.from_numpy(weights).to(terms.device)
            level_scores = (w.view(-1, 1, 1) * terms[:, active]).sum(0)
            level_deltas = level_scores.sum(dim=1) - (problem.target_scores - problem.baseline_scores)[active]
            scores[active], deltas[active] = level_scores, level_deltas
            ok = level_deltas.abs() <= tolerance * change[active] + ABSOLUTE_FLOOR
            if not self.per_target_stopping:
                if bool(ok.all()):
                    break
                continue
            active = [t for t, done in zip(active, ok.tolist(), strict=True) if not done]
            if not active:
                break
        return MethodOutput(scores, deltas, level, uses_baseline=True)
