"""GradientSHAP (Lundberg & Lee 2017; Erion et al. 2021, "expected gradients").

An expectation of Integrated Gradients' integrand over random baselines and random points on the
path: for samples i, baselines x′ᵢ = x′ + σ·εᵢ (εᵢ ~ N(0, I), σ = ``noise`` × the embedding matrix's
standard deviation) and αᵢ ~ U(0, 1),

    score = (1/n) Σᵢ (x − x′ᵢ) · ∇f(x′ᵢ + αᵢ(x − x′ᵢ)),

whose expectation is f(x) − E f(x′ᵢ) (completeness in expectation; the delta measures the sampling
error, and shrinks as 1/√n). Like captum's ``GradientShap`` with a Gaussian baseline distribution,
but through the batched kernel (one forward per chunk of samples for all targets) and seeded.
"""

from __future__ import annotations

import torch

from ..kernel import evaluate_targets, path_gradient_terms
from ..seeding import POSITION_STREAM, SHARED_STREAM, keyed_generator
from ..vocabulary import vocabulary_std
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import dot_with

DEFAULT_SAMPLES = 32
DEFAULT_NOISE = 1.0


@register_method
class GradientShap(AttributionMethod):
    id = "gradient_shap"
    label = "GradientSHAP"
    summary = "Expected gradients over noisy baselines; complete in expectation; seeded."
    description = (
        "Expected gradients: the IG integrand averaged over random points on paths from noisy baselines "
        "(x′ + Gaussian noise on the embeddings' scale). Complete in expectation; the delta is the sampling "
        "error (falls as 1/√nSamples). Seeded. nSamples forwards (chunked) + T backwards per chunk."
    )
    family = "path"
    recomputable = True
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("n_samples", "seed", "baseline", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        n_samples = int(problem.options.get("n_samples") or DEFAULT_SAMPLES)
        inputs = problem.inputs
        sampled = noisy_baselines(problem, n_samples)
        # the points on the path are shared by every target, drawn from a stream no split changes
        alphas = torch.rand(n_samples, generator=keyed_generator(problem.seed(), SHARED_STREAM), dtype=torch.float64)
        chunk = problem.chunk_size(n_samples)
        terms = path_gradient_terms(
            problem.target_fn,
            inputs,
            sampled,
            alphas,
            dot_with(inputs.unsqueeze(0) - sampled),
            n_targets=problem.n_targets,
            chunk_size=chunk,
            hooks=problem.hooks,
        )
        scores = terms.mean(0)
        expected_baseline = evaluate_targets(problem.target_fn, *sampled, chunk_size=chunk).mean(0)
        deltas = scores.sum(1) - (problem.target_scores - expected_baseline)
        return MethodOutput(scores, deltas, n_samples, uses_baseline=True)


def noisy_baselines(problem: AttributionProblem, n_samples: int) -> torch.Tensor:
    """``[n_samples, L, d]``: the baseline plus Gaussian noise on the scale of the model's embeddings
    (GradientSHAP's and DeepLiftSHAP's baseline distribution).

    Position i's noise comes from its own stream (seed, i): a target's baselines over its prefix are
    then the same whether it is attributed alone or with others (on a longer sequence), while all
    targets still share one batch of samples."""
    sigma = DEFAULT_NOISE * _embedding_scale(problem)
    seed, dim = problem.seed(), problem.inputs.shape[1]
    noise = torch.stack(
        [
            torch.randn((n_samples, dim), generator=keyed_generator(seed, POSITION_STREAM, i), dtype=torch.float32)
            for i in range(problem.inputs.shape[0])
        ],
        dim=1,
    )
    return problem.baselines.unsqueeze(0) + (sigma * noise).to(problem.inputs)


def _embedding_scale(problem: AttributionProblem) -> float:
    """The standard deviation of the vocabulary's vectors as the embedding module outputs them (on
    the inputs' scale, also for models that scale their embeddings), or of the inputs when there is
    no model."""
    model = problem.model
    if model is not None and hasattr(model, "get_input_embeddings"):
        return vocabulary_std(model)
    return float(problem.inputs.detach().float().std())
