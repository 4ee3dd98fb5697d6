"""Span occlusion: leave one span out and measure every target's change (AttriBoT-style
leave-one-out at the granularity the user reads: lines, blocks, functions).

score[t, s] = f_t(x) − f_t(x without span s). Each chunk of left-out spans is one batched forward
for all T targets; the spans are in document order, so every forward is told the position of its
first left-out token (``unchanged_prefix``): nothing before it changed, and its key/value cache can
be reused. Then the tokens inside each target's top spans are scored the same way (drill-down).
"""

from __future__ import annotations

from .ablation import ablated_values, drill_down, removal_notes, unit_mask, units
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method


@register_method
class SpanOcclusion(AttributionMethod):
    id = "span_occlusion"
    label = "Span occlusion"
    summary = "Leave each span (line, block, function) out and measure each target's change."
    description = (
        "Leaves each span of the context out (its embeddings replaced by the baseline, or its text removed and the "
        "rest re-tokenised) "
        "and measures each target's change: score = f(x) − f(x without the span). Exact for what it measures, "
        "blind to interactions between spans. One batched forward per chunk of spans for all targets; the "
        "tokens of each target's top spans are then scored the same way (drill-down). No delta."
    )
    family = "perturbation"
    uses_baseline = True
    scores_spans = True
    parameters = ("ablation", "drill_down", "baseline", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        groups = units(problem)
        length = problem.inputs.shape[0]
        ablation = str(problem.options.get("ablation") or "replace")
        keep = ~unit_mask(groups, length, problem.inputs.device)  # row u leaves unit u out
        values = ablated_values(problem, keep, ablation, "span")  # [U, T]
        unit_scores = (problem.target_scores.unsqueeze(0) - values).T  # [T, U]
        top = int(problem.options.get("drill_down") or 0)
        scores, drilled = drill_down(problem, groups, unit_scores, top, ablation)
        n_spans = len(problem.spans)
        return MethodOutput(
            scores,
            uses_baseline=True,
            span_scores=unit_scores[:, :n_spans],
            drilled=drilled[:, :n_spans],
            notes=removal_notes(problem, ablation),
        )
