"""Occlusion (Zeiler & Fergus 2014) for token sequences: replace one token with the baseline and
measure how every target changes.

score[t, i] = f_t(x) − f_t(x with token i's embedding replaced by the baseline's). No gradients, no
path: exactly the measured output change, which is what makes it easy to trust and to explain.

Batched: each forward carries a chunk of occluded copies of the sequence (one per position) and
yields every target's value for all of them, so the cost is ⌈L / chunk⌉ forward passes for all T
targets together, instead of the L·T forwards of a per-target, per-position loop. captum's
``Occlusion`` would run per target; this is why we write our own. A chunk occluding positions
[start, stop) leaves positions < start as they were, so it runs only positions ≥ start on top of the
input's cached keys and values (``unchanged_prefix``; the ``reuse_prefix`` option): about half the
work of running every position.
"""

from __future__ import annotations

import torch

from ..kernel import in_chunks
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method


@register_method
class Occlusion(AttributionMethod):
    id = "occlusion"
    label = "Occlusion"
    summary = "Replace each token with the baseline and measure each target's change."
    description = (
        "Replaces each token's embedding with the baseline and measures each target's change: "
        "score = f(x) − f(x with the token occluded). Exact for what it measures, blind to interactions "
        "(two tokens that back each other up both look unimportant). ⌈L/chunk⌉ forwards for all targets; "
        "no gradients, no delta."
    )
    family = "perturbation"
    uses_baseline = True
    parameters = ("baseline", "internal_batch_size")
    supports_layer = True

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        inputs, baselines = problem.inputs, problem.baselines
        length = inputs.shape[0]

        def occluded(start: int, stop: int) -> torch.Tensor:
            """f(x) − f(x with position i occluded) for i in [start, stop): ``[T, stop − start]``."""
            problem.hooks.check()
            positions = torch.arange(start, stop, device=inputs.device)
            batch = inputs.unsqueeze(0).repeat(len(positions), 1, 1)
            batch[torch.arange(len(positions), device=inputs.device), positions] = baselines[positions]
            with torch.no_grad():
                values = torch.stack(problem.target_fn(batch, unchanged_prefix=start), dim=1).to(torch.float64)
            problem.hooks.report(stop, length, f"position {stop} of {length}")
            return (problem.target_scores.unsqueeze(0) - values).T

        scores = torch.cat(in_chunks(length, problem.chunk_size(length), occluded, inputs.device), dim=1)
        return MethodOutput(scores, None, None, uses_baseline=True)
