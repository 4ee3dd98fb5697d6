"""Greedy PIG (Axiotis et al. 2023): path integrated gradients in greedy rounds.

Round 1 is Integrated Gradients from the baseline. The tokens with the largest |attribution| (the
``fraction`` of the tokens the target can see, at least one) are then *selected*: their attribution
is final, and from the next round on they are held at the input (they become part of the baseline).
The remaining tokens are attributed again, by IG from that new baseline, and so on until every
token is selected. Selecting greedily undoes IG's "offsetting" between correlated tokens: once a
token that explains the output is fixed, a redundant one no longer gets its share of credit.

No convergence delta (the rounds' scores do not add up to one output change). Each round is IG
through the batched kernel; the rounds differ per target (each target selects its own tokens), so a
round's forward serves one target: ⌈1/fraction⌉ IG runs per target, each of ``n_steps`` points.
"""

from __future__ import annotations

import math

import torch

from ..kernel import accumulate_path_gradients
from ..quadrature import quadrature
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import dot_with

DEFAULT_STEPS = 16
DEFAULT_FRACTION = 0.25


@register_method
class GreedyPIG(AttributionMethod):
    id = "greedy_pig"
    label = "Greedy PIG"
    summary = (
        "Integrated Gradients in greedy rounds: the top tokens are fixed to the input and the rest attributed again."
    )
    description = (
        "Greedy PIG (Axiotis et al. 2023): IG from the baseline; the tokens with the largest |score| (a fraction "
        "of them per round) keep that score and are held at the input; the rest are attributed again by IG from "
        "the new baseline, until all are chosen. Counters IG's credit-splitting between redundant tokens. "
        "⌈1/fraction⌉ IG runs of nSteps points per target; no delta."
    )
    family = "path"
    uses_baseline = True
    parameters = ("n_steps", "fraction", "baseline", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        n_steps = int(problem.options.get("n_steps") or DEFAULT_STEPS)
        fraction = float(problem.options.get("fraction") or DEFAULT_FRACTION)
        a, w = quadrature("gausslegendre", n_steps)
        alphas, weights = torch.from_numpy(a), torch.from_numpy(w)
        inputs, baselines = problem.inputs, problem.baselines
        length = inputs.shape[0]
        scores = torch.zeros(problem.n_targets, length, dtype=torch.float64, device=inputs.device)
        for t in range(problem.n_targets):
            visible = problem.prefix_length(t)
            per_round = max(1, math.ceil(fraction * visible))
            selected = torch.zeros(length, dtype=torch.bool, device=inputs.device)
            selected[visible:] = True  # positions target t cannot see take no part

            def one_target(emb: torch.Tensor, unchanged_prefix: int = 0, *, t: int = t) -> list[torch.Tensor]:
                return [problem.target_fn(emb)[t]]

            while not bool(selected.all()):
                problem.hooks.check()
                base = torch.where(selected.unsqueeze(-1), inputs, baselines)
                ig = accumulate_path_gradients(
                    one_target,
                    inputs,
                    base,
                    alphas,
                    weights,
                    dot_with(inputs - base),
                    n_targets=1,
                    chunk_size=problem.chunk_size(n_steps),
                    hooks=None,
                )[0]
                magnitude = torch.where(selected, torch.full_like(ig, -1.0), ig.abs())
                chosen = magnitude.topk(min(per_round, int((~selected).sum()))).indices
                scores[t, chosen] = ig[chosen]
                selected[chosen] = True
            problem.hooks.report(t + 1, problem.n_targets, f"target {t + 1} of {problem.n_targets}")
        return MethodOutput(scores, None, n_steps, uses_baseline=True)
