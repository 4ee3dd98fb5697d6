"""LRP and AttnLRP for GPT-2 and Llama-style causal LMs (rules and citations in :mod:`.lrp_rules`).

Both run as one forward and T backward passes through the batched kernel, like Input × Gradient:
with the rules installed the gradient *is* the relevance per unit of input, so ⟨input, γ⟩ per token
is the token's relevance. The delta is Σ relevance − f(x): what biases (and, for AttnLRP, the
attention softmax) absorbed rather than passed on to tokens. LRP explains a logit, so only the
``logit`` and ``logit_diff`` step functions are accepted.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ..errors import InputError
from .base import DELTA_NOTE_SHARE, AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import dot_with, gradient_terms_at_input
from .lrp_rules import ATTNLRP, LRP, input_layer, relevance_rules

LOGIT_STEP_FUNCTIONS = ("logit", "logit_diff")


class _RelevancePropagation(AttributionMethod):
    family = "propagation"
    has_convergence_delta = True
    parameters = ("internal_batch_size",)
    variant: ClassVar[str]
    absorbers: ClassVar[str]

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        step_function = problem.options.get("step_function")
        if step_function is not None and step_function not in LOGIT_STEP_FUNCTIONS:
            raise InputError(
                f"{self.label} explains a logit; its rules say nothing about the softmax over the vocabulary. "
                f"Set the step function to {' or '.join(LOGIT_STEP_FUNCTIONS)} (got {step_function!r})."
            )
        with relevance_rules(problem.model, self.variant, self.label):
            scores = gradient_terms_at_input(problem, dot_with(input_layer(problem.model, problem.inputs)))
        return MethodOutput(scores, scores.sum(dim=1) - problem.target_scores, None)

    def converged(
        self, deltas: torch.Tensor, target_scores: torch.Tensor, baseline_scores: torch.Tensor
    ) -> torch.Tensor:
        """The delta here is against f(x) itself: LRP has no baseline."""
        return deltas.abs() <= DELTA_NOTE_SHARE * target_scores.abs()

    def delta_notes(
        self,
        deltas: torch.Tensor,
        target_scores: torch.Tensor,
        baseline_scores: torch.Tensor,
        budget_used: int | None = None,
    ) -> list[str]:
        ok = self.converged(deltas, target_scores, baseline_scores)
        over = [t for t in range(len(deltas)) if not bool(ok[t])]
        if not over:
            return []
        worst = float((deltas.abs() / target_scores.abs().clamp_min(1e-12)).max())
        return [
            f"{self.label}: up to {worst:.0%} of the target logit stays with {self.absorbers} instead of reaching "
            f"tokens (target(s) {', '.join(map(str, over))}); the delta shows how much per target. The scores "
            "still rank tokens, but do not read them as shares of the logit."
        ]


@register_method
class Lrp(_RelevancePropagation):
    id = "lrp"
    label = "LRP"
    summary = (
        "LRP with conservative rules (Ali et al. 2022): sums to the logit minus what biases keep. "
        "GPT-2 and Llama-style models."
    )
    description = (
        "Layer-wise relevance propagation, conservative rules for transformers (Ali et al. 2022): LayerNorm scale "
        "and attention weights held constant, so relevance flows through values only and sums to the logit minus "
        "what biases absorb. GPT-2 and Llama-style models only. 1 forward + T backward passes. "
        "Delta = Σ relevance − logit."
    )
    variant = LRP
    absorbers = "the biases"


@register_method
class AttnLrp(_RelevancePropagation):
    id = "attnlrp"
    label = "AttnLRP"
    summary = "AttnLRP (Achtibat et al. 2024): relevance also through queries and keys. GPT-2 and Llama-style models."
    description = (
        "Attention-aware LRP (Achtibat et al. 2024): relevance also flows through queries and keys (uniform rule "
        "for q·k, A·V and gates; softmax by its Taylor rule), so tokens that steer attention get credit. GPT-2 "
        "and Llama-style models only. 1 forward + T backward passes. Delta = Σ relevance − logit (biases, softmax)."
    )
    variant = ATTNLRP
    absorbers = "the biases and the attention softmax"
