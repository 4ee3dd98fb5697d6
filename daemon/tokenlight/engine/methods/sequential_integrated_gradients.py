"""Sequential Integrated Gradients (Enguehard 2023, "Sequential Integrated Gradients: a simple but
effective method for explaining language models").

IG moves every token from the baseline at once, through embeddings no sentence has. SIG moves one
token i at a time: on its path x′⁽ⁱ⁾ + α(x − x′⁽ⁱ⁾), where x′⁽ⁱ⁾ is the input with token i alone replaced by
the baseline, every other token stays itself. Token i's score is IG along that path, restricted to
token i (the only one that moves), so it satisfies completeness per token:

    SIG_i = f(x) − f(x′⁽ⁱ⁾),    delta = Σᵢ SIG_i − Σᵢ (f(x) − f(x′⁽ⁱ⁾)).

Summed over the embedding (as Tokenlight reports every method), a token's SIG score is therefore its
leave-one-out change, the same number ``occlusion`` measures with the same baseline, reached by a path
integral instead of two forwards: the methods differ in the per-dimension attributions, and SIG's delta
checks the quadrature. (Tests hold SIG to occlusion.)

The per-token paths cannot share one interpolation (each has its own baseline), but they share the
kernel: a chunk of points may mix paths of several tokens (one baseline per point), and every target
comes from the same forward. Cost: L · nSteps points in chunks, plus L forwards for f(x′⁽ⁱ⁾).
"""

from __future__ import annotations

import torch

from ..kernel import evaluate_targets, path_gradient_terms
from ..quadrature import quadrature
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import dot_with


@register_method
class SequentialIntegratedGradients(AttributionMethod):
    id = "sequential_integrated_gradients"
    label = "Sequential Integrated Gradients"
    summary = "Sequential IG: one token's path at a time (complete per token)."
    description = (
        "IG with one token moved at a time from the baseline while the others stay themselves, so paths stay "
        "near real sentences. Complete per token: score_i = f(x) − f(x with token i at the baseline), i.e. "
        "occlusion's leave-one-out change reached by a path integral. "
        "L × nSteps points (chunked, all targets per forward) + L forwards."
    )
    family = "path"
    recomputable = True
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("n_steps", "baseline", "internal_batch_size")
    default_n_steps = 16

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        inputs, baselines = problem.inputs, problem.baselines
        length = inputs.shape[0]
        n_steps = int(problem.options.get("n_steps") or self.default_n_steps)
        alphas, weights = quadrature("gausslegendre", n_steps)
        alphas_t = torch.from_numpy(alphas)
        weights_t = torch.from_numpy(weights).to(inputs.device)
        scores = torch.zeros(problem.n_targets, length, dtype=torch.float64, device=inputs.device)
        one_out = torch.zeros(length, problem.n_targets, dtype=torch.float64, device=inputs.device)  # f(x′⁽ⁱ⁾)
        # tokens per kernel call: as many whole paths as one chunk of points holds
        per_call = max(1, problem.chunk_size(length * n_steps) // n_steps)
        for first in range(0, length, per_call):
            tokens = torch.arange(first, min(first + per_call, length), device=inputs.device)
            swapped = inputs.unsqueeze(0).repeat(len(tokens), 1, 1)  # [g, L, d]: x with token i at x′
            swapped[torch.arange(len(tokens)), tokens] = baselines[tokens]
            one_out[tokens] = evaluate_targets(problem.target_fn, *swapped, chunk_size=problem.chunk_size(len(tokens)))
            path_baselines = swapped.repeat_interleave(n_steps, dim=0)  # [g·n, L, d]
            terms = path_gradient_terms(
                problem.target_fn,
                inputs,
                path_baselines,
                alphas_t.repeat(len(tokens)),
                dot_with(inputs.unsqueeze(0) - path_baselines),
                n_targets=problem.n_targets,
                chunk_size=problem.chunk_size(len(tokens) * n_steps),
                hooks=problem.hooks,
            ).view(len(tokens), n_steps, problem.n_targets, length)
            for j, token in enumerate(tokens.tolist()):
                scores[:, token] = (weights_t.view(-1, 1) * terms[j, :, :, token]).sum(0)
        expected = (problem.target_scores.unsqueeze(0) - one_out).sum(0)  # Σᵢ f(x) − f(x′⁽ⁱ⁾), per target
        deltas = scores.sum(1) - expected
        return MethodOutput(scores, deltas, n_steps, uses_baseline=True)
