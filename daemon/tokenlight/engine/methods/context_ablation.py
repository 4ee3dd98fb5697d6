"""Context ablation (ContextCite, Cohen-Wang et al. 2024): random span masks and a sparse linear
surrogate of each target.

N masks keep each span with probability 1/2; each masked context is one row of a batched forward
(all T targets at once). For each target a LASSO (``engine/lasso.py``) fits the target's value from
which spans were kept; a span's score is its coefficient: what keeping it adds. For a model that is
additive over spans this is exactly the leave-one-out change, for N well below the number of
forwards leave-one-out needs when few spans matter. The fit is scored on further held-out masks
(R², ``Attribution.span_fit``): the user sees whether the surrogate describes the model at all.

Each span's mask bits come from a stream keyed by the seed and the span's first position, and each
target is fitted on the spans it can see, so a target's scores never depend on the other targets
asked with it.
"""

from __future__ import annotations

import torch

from ..lasso import lasso_cv_many, r_squared, underdetermined
from ..seeding import MASK_STREAM, keyed_generator
from .ablation import ablated_values, drill_down, removal_notes, unit_mask, units
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method

DEFAULT_MASKS = 64  # ContextCite's paper: 32-64 ablations suffice for sentence-level sources
KEEP_PROBABILITY = 0.5
POOR_FIT = 0.5  # a held-out R² below this: the surrogate explains too little to trust


def held_out(n_masks: int) -> int:
    return max(8, n_masks // 4)


@register_method
class ContextAblation(AttributionMethod):
    id = "context_ablation"
    label = "Context ablation (ContextCite)"
    summary = "Random span masks and a sparse linear surrogate per target (ContextCite); seeded."
    description = (
        "Keeps each span of the context with probability 1/2 in nSamples random masks (default 64), runs them "
        "in batched forwards for all targets, and fits each target's value with a LASSO over which spans were "
        "kept: a span's score is its coefficient. The surrogate's R² on held-out masks is reported (spanFit). "
        "Exact for models additive over spans; seeded; no delta."
    )
    family = "perturbation"
    uses_baseline = True
    scores_spans = True
    parameters = ("n_samples", "seed", "ablation", "drill_down", "baseline", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        groups = units(problem)
        length = problem.inputs.shape[0]
        device = problem.inputs.device
        n_masks = int(problem.options.get("n_samples") or DEFAULT_MASKS)
        n_rows = n_masks + held_out(n_masks)
        bits = torch.stack(
            [
                torch.rand(n_rows, generator=keyed_generator(problem.seed(), MASK_STREAM, a), dtype=torch.float64)
                < KEEP_PROBABILITY
                for a, _ in groups
            ],
            dim=1,
        ).to(device)  # [rows, U]
        keep = bits.double() @ unit_mask(groups, length, device).double() > 0.5  # [rows, L]
        ablation = str(problem.options.get("ablation") or "replace")
        # No prefix reuse for the masks: the relaxed LASSO's support is discontinuous, so the float
        # rounding by which a cached prefix differs from a full pass (~1e-8) flipped a span in or
        # out and moved scores by 1% of the largest with internal_batch_size 1 (measured on the
        # tiny GPT-2); and a chunk of random masks shares almost no unchanged prefix anyway.
        values = ablated_values(problem, keep, ablation, "mask", reuse_prefix=False)  # [rows, T]
        firsts = torch.tensor([a for a, _ in groups], device=device)
        lengths = torch.tensor([problem.prefix_length(t) for t in range(problem.n_targets)], device=device)
        seen = firsts.unsqueeze(0) < lengths.unsqueeze(1)  # [T, U]: the units each target can see
        x = bits.double()
        # all targets' fits in one batch, each on the units it can see (the others' coefficients are 0)
        unit_scores, intercepts = lasso_cv_many(x[:n_masks], values[:n_masks], seen)
        fit = torch.tensor(
            [
                r_squared(x[n_masks:] @ unit_scores[t] + intercepts[t], values[n_masks:, t])
                for t in range(problem.n_targets)
            ],
            dtype=torch.float64,
            device=device,
        )
        top = int(problem.options.get("drill_down") or 0)
        scores, drilled = drill_down(problem, groups, unit_scores, top, ablation)
        n_spans = len(problem.spans)
        warnings = []
        poor = [t for t in range(problem.n_targets) if float(fit[t]) < POOR_FIT]
        if poor:
            worst = float(fit.min())
            warnings.append(
                f"the span surrogate explains little of target(s) {', '.join(map(str, poor))} on held-out masks "
                f"(R² as low as {worst:.2f}): raise n_samples, or use span_occlusion"
            )
        notes = []
        loose = underdetermined(unit_scores, torch.full((problem.n_targets,), float(n_masks), device=device))
        if bool(loose.any()):
            # no target numbers: in target groups this method sees a group's targets only
            notes.append(
                f"context_ablation: for some targets the LASSO kept {n_masks - 1} or more spans, more than "
                f"{n_masks} masks determine, so their span scores are the LASSO's own (shrunk towards 0), not "
                "refitted by least squares; raise n_samples for the unbiased refit"
            )
        return MethodOutput(
            scores,
            None,
            n_masks,
            uses_baseline=True,
            warnings=warnings,
            span_scores=unit_scores[:, :n_spans],
            drilled=drilled[:, :n_spans],
            fit=fit,
            notes=[*notes, *removal_notes(problem, ablation)],
        )
