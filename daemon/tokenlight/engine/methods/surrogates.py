"""LIME (Ribeiro et al. 2016) and KernelSHAP (Lundberg & Lee 2017), through captum.

Both switch random subsets of tokens to the baseline, evaluate the model on each such sample, and fit a
weighted linear model of "which tokens were kept" → f. KernelSHAP's weights make the coefficients
Shapley values (exact for a model that is linear in the kept tokens); LIME's make them a local fit.
Each token is one feature (captum's ``feature_mask``). The samples are evaluated in batches
(``perturbations_per_eval``) and seeded, so results are reproducible. captum fits one target at a time:
T × nSamples forward passes in all.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..kernel import with_oom_fallback
from ..seeding import TARGET_STREAM, keyed_seed, seeded
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .captum_bridge import TargetsModule

if TYPE_CHECKING:  # captum is imported when a method runs, not when the daemon starts
    from captum._utils.models.linear_model import LinearModel
    from captum.attr import KernelShap as CaptumKernelShap
    from captum.attr import Lime as CaptumLime

DEFAULT_SAMPLES = 200
LIME_RIDGE = 1e-3


def weighted_least_squares(ridge: float = 0.0) -> LinearModel:
    """A captum interpretable model fitted by (ridge-regularised) weighted least squares in torch.

    captum's defaults fit with scikit-learn (Lasso for LIME, LinearRegression for KernelSHAP). We solve
    the same normal equations in float64 with torch instead of adding scikit-learn (and its SciPy) to
    the daemon's dependencies; for KernelSHAP (ridge 0) it is the same estimator. LIME gets a small
    ridge rather than Lasso: the same local fit, without Lasso's bias towards dropping tokens.
    """
    from captum._utils.models.linear_model import LinearModel

    def train(
        model: LinearModel,
        dataloader: Iterable[Sequence[torch.Tensor]],
        construct_kwargs: dict[str, Any],
        **fit_kwargs: Any,
    ) -> dict[str, Any]:
        xs, ys, ws = [], [], []
        for batch in dataloader:
            xs.append(batch[0].double())
            ys.append(batch[1].double().reshape(len(batch[0]), -1))
            ws.append(
                batch[2].double().reshape(-1) if len(batch) == 3 else torch.ones(len(batch[0]), dtype=torch.float64)
            )
        x, y, w = torch.cat(xs), torch.cat(ys), torch.cat(ws)
        design = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)  # intercept last
        root = w.clamp_min(0).sqrt().unsqueeze(1)
        gram = (design * root).T @ (design * root)
        if ridge:
            penalty = torch.eye(design.shape[1], dtype=torch.float64) * ridge
            penalty[-1, -1] = 0.0  # never shrink the intercept
            gram = gram + penalty
        coef = torch.linalg.lstsq(gram, (design * root).T @ (y * root)).solution  # [features + 1, outputs]
        model._construct_model_params(
            norm_type=None,
            weight_values=coef[:-1].T.float(),
            bias_value=coef[-1].float(),
            classes=None,
        )
        return {}

    return LinearModel(train_fn=train)


class _Surrogate(AttributionMethod):
    family = "perturbation"
    uses_baseline = True
    parameters = ("n_samples", "seed", "baseline", "internal_batch_size")

    def _explainer(self, module: torch.nn.Module) -> CaptumKernelShap | CaptumLime: ...

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        n_samples = int(problem.options.get("n_samples") or DEFAULT_SAMPLES)
        inputs = problem.inputs
        scores = torch.zeros(problem.n_targets, inputs.shape[0], dtype=torch.float64, device=inputs.device)
        for t in range(problem.n_targets):
            problem.hooks.check()
            length = problem.prefix_length(t)
            fit = with_oom_fallback(
                functools.partial(self._fit, problem, t, n_samples), problem.chunk_size(n_samples), inputs.device
            )
            scores[t, :length] = fit.detach()[0, :, 0].to(torch.float64)  # a feature's value fills its group
            problem.hooks.report(t + 1, problem.n_targets, f"target {t + 1} of {problem.n_targets}")
        warnings = self._sample_warnings(problem, n_samples)
        return MethodOutput(scores, None, n_samples, uses_baseline=True, warnings=warnings)

    def _sample_warnings(self, problem: AttributionProblem, n_samples: int) -> list[str]:
        """A fit with no more samples than tokens (plus its intercept) has no unique answer: its scores
        then move with float rounding (measured: by 38% of the largest score between two splits of the
        same request at 8 samples for 24 tokens), so say so."""
        tokens = max(problem.prefix_length(t) for t in range(problem.n_targets))
        if n_samples > tokens:
            return []
        return [
            f"{self.label} fitted {tokens} tokens from {n_samples} samples: the fit is underdetermined, so its scores "
            f"are not a unique answer and can change with rounding; raise n_samples above {tokens} (e.g. {4 * tokens})"
        ]

    def _fit(self, problem: AttributionProblem, t: int, n_samples: int, chunk: int) -> torch.Tensor:
        """Target t's surrogate on its own prefix with its own stream: the subsets drawn for it are the
        same whatever other targets were asked with it, and whatever the chunk (seeded here, so that a
        restart after out-of-memory draws them again)."""
        length = problem.prefix_length(t)
        inputs = problem.inputs[:length].unsqueeze(0)
        # every embedding entry of token i belongs to feature i
        mask = torch.arange(length, device=inputs.device).view(1, -1, 1).expand_as(inputs)
        explainer = self._explainer(TargetsModule(problem, length))
        with seeded(keyed_seed(problem.seed(), TARGET_STREAM, problem.target_position(t)), inputs.device):
            scores: torch.Tensor = explainer.attribute(
                inputs,
                baselines=problem.baselines[:length].unsqueeze(0),
                target=t,
                feature_mask=mask,
                n_samples=n_samples,
                perturbations_per_eval=chunk,
            )
        return scores


@register_method
class KernelShap(_Surrogate):
    id = "kernel_shap"
    label = "KernelSHAP"
    summary = "Shapley values from a weighted linear fit over token subsets (captum); seeded."
    description = (
        "Shapley values estimated by a weighted linear fit over random subsets of tokens switched to the "
        "baseline (captum). Exact for models linear in the kept tokens; otherwise a sampled estimate. "
        "T × nSamples forwards. Seeded; no delta."
    )

    def _explainer(self, module: torch.nn.Module) -> CaptumKernelShap:
        from captum.attr import KernelShap as CaptumKernelShap

        explainer = CaptumKernelShap(module)
        explainer.interpretable_model = weighted_least_squares()
        return explainer


@register_method
class Lime(_Surrogate):
    id = "lime"
    label = "LIME"
    summary = "A local linear surrogate over token subsets (captum); seeded."
    description = (
        "A local linear surrogate fitted to random subsets of tokens switched to the baseline, weighted by "
        "closeness to the input (captum). Fast to read, sensitive to the sample count and kernel width. "
        "T × nSamples forwards. Seeded; no delta."
    )

    def _explainer(self, module: torch.nn.Module) -> CaptumLime:
        from captum.attr import Lime as CaptumLime
        from captum.attr._core.lime import get_exp_kernel_similarity_function

        return CaptumLime(
            module,
            interpretable_model=weighted_least_squares(LIME_RIDGE),
            similarity_func=get_exp_kernel_similarity_function("cosine", kernel_width=1.0),
        )
