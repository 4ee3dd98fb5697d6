"""Contrastive attribution against another sequence: a contrast prompt and/or a contrast text.

"Why this output *with this context* rather than that one" (inseq's contrast sources) and "why X
rather than Y" when Y is several tokens (inseq's contrast targets). For target t the step function's
``pair`` compares two next-token distributions:

    f_t = pair(logits of the input at t, y_t, logits of the contrast sequence at t, y′_t)

The contrast sequence is ``[P′ ; Y′_<t]``:

* ``P′`` is the contrast prompt's tokens (with BOS, as the prompt), held fixed; without a contrast
  prompt it is the prompt itself, interpolated with the input, so the prompt's tokens are
  attributed through both terms.
* ``Y′`` is the contrast text's tokens, held fixed, aligned with the targets position by position:
  target t is contrasted with contrast token t, predicted after contrast tokens ``< t`` (inseq's
  default alignment when none is given). Without a contrast text it is the targets themselves,
  interpolated with the input, and ``y′_t = y_t``.

f depends on the input only through positions the input has, so completeness (Σ scores =
f(x) − f(x′)) holds as for any step function. Each chunk of path points costs one forward over the
input and one over the contrast sequence, both shared by every target (the decoder is causal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .errors import InputError
from .heads import CausalTargets
from .step_functions import StepFunction
from .tokens import Token, tokenize_with_spans


@dataclass(frozen=True)
class ContrastSequence:
    """The contrast side of a contrastive problem.

    Attributes:
        prompt: ``[S′, d]`` embeddings of the contrast prompt, or None: the prompt itself.
        continuation: ``[C, d]`` embeddings of the contrast text's tokens, or None: the targets.
        target_ids: y′ for every target (``[T]``).
        n_sources: S, the prompt's length in the input sequence.
        prompt_tokens, text_tokens: the contrast prompt's and contrast text's tokens (for the result).
    """

    prompt: torch.Tensor | None
    continuation: torch.Tensor | None
    target_ids: list[int]
    n_sources: int
    prompt_tokens: list[Token] | None = None
    text_tokens: list[Token] | None = None


class ContrastTargets(CausalTargets):
    """``target_fn(emb [n, S + b − 1, d])`` -> the values of targets ``first .. first + k`` (k of
    them) against the contrast sequence; the input's last k positions predict them."""

    def __init__(
        self, model: Any, step: StepFunction, target_ids: list[int], contrast: ContrastSequence, first: int = 0
    ) -> None:
        super().__init__(model, step, target_ids, None)
        if step.pair is None:
            raise InputError(f"step function {step.id!r} does not compare against a contrast prompt or text")
        self.pair = step.pair
        self.contrast = contrast
        self.first = first
        self.other = CausalTargets(model, step, contrast.target_ids[first : first + len(target_ids)], None)

    def contrast_embeddings(self, emb: torch.Tensor) -> torch.Tensor:
        """The contrast sequence for the points ``emb``: ``[n, S′ + first + k − 1, d]``."""
        n, s = emb.shape[0], self.contrast.n_sources
        before = self.first + self.n_targets - 1  # continuation positions before the last target
        fixed_prompt, fixed_text = self.contrast.prompt, self.contrast.continuation
        prompt = emb[:, :s] if fixed_prompt is None else fixed_prompt.to(emb).unsqueeze(0).expand(n, -1, -1)
        if fixed_text is None:
            text = emb[:, s : s + before]
        else:
            text = fixed_text[:before].to(emb).unsqueeze(0).expand(n, -1, -1)
        return torch.cat([prompt, text], dim=1)

    def __call__(self, emb: torch.Tensor, unchanged_prefix: int = 0) -> list[torch.Tensor]:
        # no prefix reuse: the contrast sequence's prefix is not the perturbed input's
        return self._values(emb)

    def _values(self, emb: torch.Tensor) -> list[torch.Tensor]:
        main = self.logits_per_target(emb)
        other = self.other.logits_per_target(self.contrast_embeddings(emb))
        ids, other_ids = self.target_ids, self.other.target_ids
        return [
            self.pair(m, ids[t : t + 1], o, other_ids[t : t + 1])[:, 0]
            for t, (m, o) in enumerate(zip(main, other, strict=True))
        ]

    @torch.no_grad()
    def evaluate_with_probabilities(self, *embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = torch.stack(embeddings)
        values = torch.stack(self._values(emb), dim=1).to(torch.float64)
        first = torch.cat([m[0] for m in self.logits_per_target(emb[:1])])  # [T, V]
        probabilities = first.float().softmax(-1).gather(1, self.target_ids.view(-1, 1))[:, 0]
        return values, probabilities


def contrast_sequence(
    lm: Any, step: StepFunction, options: dict[str, Any], sources: list[Token], targets: list[Token]
) -> ContrastSequence | None:
    """The contrast sequence ``options`` ask for (``contrast_prompt``, ``contrast_text``), or None."""
    prompt_text, text = options.get("contrast_prompt"), options.get("contrast_text")
    if prompt_text is None and text is None:
        return None
    embedding = lm.embedding
    prompt = prompt_tokens = None
    if prompt_text is not None:
        prompt_tokens = tokenize_with_spans(lm.tokenizer, prompt_text, add_special_tokens=True, add_bos=True)
        if not prompt_tokens:
            raise InputError("the contrast prompt is empty and the model has no BOS token; give some text")
        with torch.no_grad():
            prompt = embedding(torch.tensor([t.id for t in prompt_tokens], device=lm.device)).detach()
    target_ids = [t.id for t in targets]
    continuation = text_tokens = None
    if text is not None:
        text_tokens = tokenize_with_spans(lm.tokenizer, text, add_special_tokens=False, add_bos=False)
        if len(text_tokens) < len(targets):
            raise InputError(
                f"the contrast text is {len(text_tokens)} token(s) but there are {len(targets)} targets; contrast "
                "tokens align with targets position by position: give at least as many, or fewer targets"
            )
        text_tokens = text_tokens[: len(targets)]
        target_ids = [t.id for t in text_tokens]
        with torch.no_grad():
            continuation = embedding(torch.tensor(target_ids, device=lm.device)).detach()
    limit = lm.context_length
    length = (len(prompt_tokens) if prompt_tokens is not None else len(sources)) + len(targets)
    if limit is not None and length > limit:
        raise InputError(
            f"the contrast sequence is {length:,} tokens; {lm.name} accepts {limit:,}: shorten the contrast prompt"
        )
    return ContrastSequence(prompt, continuation, target_ids, len(sources), prompt_tokens, text_tokens)
