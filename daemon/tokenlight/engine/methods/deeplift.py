"""DeepLift (Shrikumar et al. 2017) and DeepLiftSHAP, through captum.

DeepLift propagates "differences from the baseline" with rules that are exact for ReLU-type
networks: there, the scores sum to f(x) − f(x′) exactly. Transformers are not such networks: GELU /
SiLU activations, layer normalisation and the attention softmax (a function, not a module captum can
hook) get plain gradients instead of DeepLift rules. captum then runs silently and its delta is the
only alarm (captum #519; on a 4-layer GPT-2 we measured deltas of 79–103% of f(x) − f(x′)). So we
inspect the model and attach a plain-language warning to every result on such an architecture.

One captum call per target (captum attributes one output at a time); each call is a single
forward/backward of the input and the baseline, cheap next to path methods.
"""

from __future__ import annotations

import torch

from ..kernel import in_chunks
from ..seeding import seeded
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .captum_bridge import TargetsModule

DEFAULT_SAMPLES = 8
# captum's DeepLift has rules for these module types; anything else non-linear gets plain gradients
_RULE_COVERED = {
    "ReLU",
    "ELU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "Softmax",
}
_ACTIVATION_HINTS = ("gelu", "silu", "swish", "mish", "activation", "quickgelu", "relu2", "glu")
_NORM_HINTS = ("layernorm", "rmsnorm", "groupnorm", "batchnorm")


def uncovered_nonlinearities(model: torch.nn.Module | None) -> list[str]:
    """Plain-language names of what in ``model`` DeepLift's rules do not cover (empty: exact)."""
    if model is None:
        return []
    found: dict[str, None] = {}
    for module in model.modules():
        name = type(module).__name__
        lower = name.lower()
        if name in _RULE_COVERED:
            continue
        if any(h in lower for h in _NORM_HINTS):
            found["layer normalisation"] = None
        elif "attention" in lower:
            found["attention softmax"] = None
        elif any(h in lower for h in _ACTIVATION_HINTS) and not list(module.children()):
            found[f"{name} activations"] = None
    return list(found)


def reliability_warning(method_label: str, model: torch.nn.Module | None) -> list[str]:
    missing = uncovered_nonlinearities(model)
    if not missing:
        return []
    return [
        f"{method_label} is unreliable on this model: its rules are exact only for ReLU-type networks, and "
        f"this model has {', '.join(missing)}, which {method_label} passes through as plain gradients. "
        "The scores need not add up to f(x) − f(x′) (check the delta) and can mislead; prefer Integrated "
        "Gradients or occlusion here."
    ]


def _deeplift_rows(problem: AttributionProblem, baselines: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per target, DeepLift's scores averaged over ``baselines`` ``[B, L, d]`` and the mean delta.

    captum runs the input and the baselines as one batch; the baselines go in chunks through the
    memory-aware chunker (the average of chunk averages weighted by their size is the average; a
    chunk of one baseline is plain DeepLift, since captum's DeepLiftShap needs two or more)."""
    from captum.attr import DeepLift as CaptumDeepLift
    from captum.attr import DeepLiftShap as CaptumDeepLiftShap

    module = TargetsModule(problem)
    single, several = CaptumDeepLift(module), CaptumDeepLiftShap(module)
    inputs = problem.inputs.unsqueeze(0)
    n_baselines = baselines.shape[0]
    scores = torch.zeros(problem.n_targets, inputs.shape[1], dtype=torch.float64, device=inputs.device)
    deltas = torch.zeros(problem.n_targets, dtype=torch.float64, device=inputs.device)
    for t in range(problem.n_targets):
        problem.hooks.check()

        def part(start: int, stop: int, t: int = t) -> tuple[torch.Tensor, torch.Tensor]:
            explainer = single if stop - start == 1 else several
            attr, delta = explainer.attribute(
                inputs, baselines=baselines[start:stop], target=t, return_convergence_delta=True
            )
            return attr.detach().to(torch.float64).sum(-1)[0] * (stop - start), delta.detach().to(torch.float64)

        parts = in_chunks(n_baselines, problem.chunk_size(n_baselines), part, inputs.device)
        scores[t] = sum(p[0] for p in parts) / n_baselines
        deltas[t] = torch.cat([p[1].reshape(-1) for p in parts]).mean()
        problem.hooks.report(t + 1, problem.n_targets, f"target {t + 1} of {problem.n_targets}")
    return scores, deltas


@register_method
class DeepLift(AttributionMethod):
    id = "deeplift"
    label = "DeepLift"
    summary = "DeepLift rules (captum); exact on ReLU networks, flagged unreliable on transformers."
    description = (
        "DeepLift rescale rules (captum): exact and complete on ReLU-type networks; on transformers (GELU, "
        "LayerNorm, attention softmax) its rules do not apply and results are flagged unreliable — watch the "
        "delta. One forward/backward of input and baseline per target."
    )
    family = "gradient"
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("baseline",)
    caveat = "Unreliable on transformers: its rules do not hold for GELU, LayerNorm and softmax; check the delta."

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        scores, deltas = _deeplift_rows(problem, problem.baselines.unsqueeze(0))
        return MethodOutput(
            scores, deltas, None, uses_baseline=True, warnings=reliability_warning(self.label, problem.model)
        )


@register_method
class DeepLiftShap(AttributionMethod):
    id = "deeplift_shap"
    label = "DeepLiftSHAP"
    summary = "DeepLift averaged over noisy baselines (captum); same caveat; seeded."
    description = (
        "DeepLift averaged over a distribution of baselines (the baseline plus Gaussian noise on the "
        "embeddings' scale), approximating SHAP values (captum). Same rules, same caveat on transformers. "
        "nSamples baselines, one pass each per target. Seeded."
    )
    family = "gradient"
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("n_samples", "seed", "baseline", "internal_batch_size")
    caveat = DeepLift.caveat

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        from .gradient_shap import noisy_baselines

        n_samples = int(problem.options.get("n_samples") or DEFAULT_SAMPLES)
        distribution = noisy_baselines(problem, n_samples)
        with seeded(problem.seed(), problem.inputs.device):
            scores, deltas = _deeplift_rows(problem, distribution)
        return MethodOutput(
            scores, deltas, n_samples, uses_baseline=True, warnings=reliability_warning(self.label, problem.model)
        )
