"""Encoder-decoder models (``AutoModelForSeq2SeqLM``: BART, T5, Marian, mBART).

The source is the encoder's input; the targets are decoder tokens, generated or forced. The
attributed sequence is the encoder tokens, then the decoder's start token(s), then every target but
the last: ``[S_enc + n_start + T − 1, d]`` embeddings, so ``scores`` keeps its ``[T, S + T]`` shape
with ``S = S_enc + n_start`` (row t: the encoder tokens, the decoder start, the targets before t),
each source token marked ``side="encoder"`` or ``"decoder"``.

The decoder is causal and every decoder position sees the whole encoder, so target t depends exactly
on the positions before its own in that layout, as for a causal LM: one encoder + decoder forward
per chunk of path points serves all targets, and the batched kernel, the target groups and the
causal cut in ``attribution.py`` apply unchanged. Path methods interpolate encoder and decoder
inputs together from the baseline (one path over the concatenated embeddings), so completeness
holds over both: Σ scores = f(x) − f(x′).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .errors import InputError
from .generation import generate
from .placement import input_device
from .step_functions import StepFunction
from .tokens import Token, continuation_tokens, forced_targets, tokenize_with_spans

ENCODER, DECODER = "encoder", "decoder"


class Seq2SeqTargets:
    """``target_fn(emb [n, S_enc + n_start + k' , d])`` -> the T target values ``[n]`` each: the
    first ``n_encoder`` positions go to the encoder, the rest to the decoder, whose last T positions
    predict the targets."""

    def __init__(
        self, model: Any, step: StepFunction, target_ids: list[int], contrast_id: int | None, n_encoder: int
    ) -> None:
        self.model, self.step, self.contrast_id, self.n_encoder = model, step, contrast_id, n_encoder
        self.n_targets = len(target_ids)
        self.target_ids = torch.tensor(target_ids, device=input_device(model))

    def logits(self, emb: torch.Tensor) -> torch.Tensor:
        """``[n, T, V]`` at the positions that predict the targets."""
        encoder, decoder = emb[:, : self.n_encoder], emb[:, self.n_encoder :]
        out = self.model(inputs_embeds=encoder, decoder_inputs_embeds=decoder, use_cache=False)
        logits: torch.Tensor = out.logits[:, -self.n_targets :]
        return logits

    def __call__(self, emb: torch.Tensor, unchanged_prefix: int = 0) -> list[torch.Tensor]:
        # no prefix reuse: the bidirectional encoder's every position sees a perturbed one
        return list(self.step.fn(self.logits(emb), self.target_ids, self.contrast_id).unbind(1))

    @torch.no_grad()
    def evaluate_with_probabilities(self, *embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits(torch.stack(embeddings))
        values = self.step.fn(logits, self.target_ids, self.contrast_id).to(torch.float64)
        probabilities = logits[0].float().softmax(-1).gather(1, self.target_ids.view(-1, 1))[:, 0]
        return values, probabilities


class Seq2SeqContrastTargets(Seq2SeqTargets):
    """Targets ``first .. first + k`` against a contrast sequence (:mod:`.contrast`'s step-function
    ``pair``), for an encoder-decoder: the contrast source is another **encoder input** (a contrast
    prompt: ``encoder`` ``[S′_enc, d]``, held fixed), the contrast text other **decoder tokens**
    (``continuation`` ``[C, d]``, held fixed, aligned with the targets position by position as for
    causal models: target t against contrast token t, after contrast tokens < t). What the contrast
    does not replace is the input's own rows, interpolated with it: the encoder input without a
    contrast prompt, the decoder start (and, without a contrast text, the earlier targets)."""

    def __init__(
        self,
        model: Any,
        step: StepFunction,
        target_ids: list[int],
        n_encoder: int,
        *,
        encoder: torch.Tensor | None,
        continuation: torch.Tensor | None,
        contrast_ids: list[int],
        first: int = 0,
    ) -> None:
        super().__init__(model, step, target_ids, None, n_encoder)
        if step.pair is None:
            raise InputError(f"step function {step.id!r} does not compare against a contrast prompt or text")
        self.pair = step.pair
        self.encoder, self.continuation, self.first = encoder, continuation, first
        self.contrast_ids = torch.tensor(contrast_ids[first : first + len(target_ids)], device=self.target_ids.device)

    def contrast_logits(self, emb: torch.Tensor) -> torch.Tensor:
        """``[n, k, V]``: the contrast sequence's logits at the positions that predict contrast
        tokens ``first .. first + k``."""
        n = emb.shape[0]
        encoder = emb[:, : self.n_encoder] if self.encoder is None else self.encoder.to(emb).expand(n, -1, -1)
        decoder = emb[:, self.n_encoder :]
        if self.continuation is not None:
            n_start = decoder.shape[1] - (self.first + self.n_targets - 1)
            fixed = self.continuation[: self.first + self.n_targets - 1].to(emb).expand(n, -1, -1)
            decoder = torch.cat([decoder[:, :n_start], fixed], dim=1)
        out = self.model(inputs_embeds=encoder, decoder_inputs_embeds=decoder, use_cache=False)
        logits: torch.Tensor = out.logits[:, -self.n_targets :]
        return logits

    def _values(self, emb: torch.Tensor, main: torch.Tensor) -> torch.Tensor:
        other = self.contrast_logits(emb)
        return torch.stack(
            [
                self.pair(
                    main[:, t : t + 1], self.target_ids[t : t + 1], other[:, t : t + 1], self.contrast_ids[t : t + 1]
                )[:, 0]
                for t in range(self.n_targets)
            ],
            dim=1,
        )

    def __call__(self, emb: torch.Tensor, unchanged_prefix: int = 0) -> list[torch.Tensor]:
        return list(self._values(emb, self.logits(emb)).unbind(1))

    @torch.no_grad()
    def evaluate_with_probabilities(self, *embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = torch.stack(embeddings)
        logits = self.logits(emb)
        values = self._values(emb, logits).to(torch.float64)
        probabilities = logits[0].float().softmax(-1).gather(1, self.target_ids.view(-1, 1))[:, 0]
        return values, probabilities


@torch.no_grad()
def encoder_input_scale(model: Any) -> float:
    """The factor between ``get_input_embeddings()(ids)`` and what the encoder adds positions to.

    Some encoders scale the token embedding by √d only when given ids (Marian: ``embed_tokens(ids) *
    embed_scale``, while ``inputs_embeds`` are taken as they are), others inside the embedding
    module (BART's scaled embedding) or not at all. Checked numerically on a probe, once per call:
    the attributed inputs must be what the model itself computes from the ids."""
    encoder = model.get_encoder()
    probe = torch.arange(1, 6, device=input_device(model)).view(1, -1)
    reference = encoder(input_ids=probe).last_hidden_state
    embedded = model.get_input_embeddings()(probe)
    candidates = [1.0, float(getattr(encoder, "embed_scale", 1.0) or 1.0)]
    for scale in candidates:
        got = encoder(inputs_embeds=embedded * scale).last_hidden_state
        if torch.allclose(got, reference, rtol=1e-4, atol=1e-5):
            return scale
    raise InputError(
        f"{type(model).__name__}'s encoder computes something from its embeddings that Tokenlight cannot "
        "reproduce from input embeddings; it cannot be attributed"
    )


def decoder_start_ids(model: Any, tokenizer: Any) -> list[int]:
    """The token(s) the decoder starts from (``decoder_start_token_id``; BART: EOS, T5: PAD)."""
    config = model.config
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        generation = getattr(model, "generation_config", None)
        start = getattr(generation, "decoder_start_token_id", None)
    if start is None:
        start = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.bos_token_id
    if start is None:
        raise InputError("this encoder-decoder model names no decoder start token (decoder_start_token_id)")
    return [int(start)]


def seq2seq_targets(
    lm: Any,
    text: str,
    options: dict[str, Any],
    target_text: str | None,
    max_target_tokens: int | None,
) -> tuple[list[Token], list[Token], str, str, int]:
    """(sources: encoder tokens then the decoder start, targets, continuation, kind, S_enc)."""
    tokenizer = lm.tokenizer
    encoder = [
        replace(t, side=ENCODER) for t in tokenize_with_spans(tokenizer, text, add_special_tokens=True, add_bos=False)
    ]
    if not encoder:
        raise InputError("the source text is empty; an encoder-decoder model needs a source to translate or rewrite")
    start = [
        Token(tokenizer.convert_ids_to_tokens(i), i, None, None, True, side=DECODER)
        for i in decoder_start_ids(lm.model, tokenizer)
    ]
    if target_text is not None:
        continuation, targets = forced_targets(tokenizer, target_text, max_target_tokens)
        kind = "text"
    else:
        continuation, targets = continuation_tokens(
            tokenizer, generate(lm, [t.id for t in encoder], options, skip=len(start), decoder_start_id=start[0].id)
        )
        kind = "generate"
    if not targets:
        raise InputError("nothing to attribute: the model generated no target tokens")
    return encoder + start, [replace(t, side=DECODER) for t in targets], continuation, kind, len(encoder)


def seq2seq_contrast(
    lm: Any, options: dict[str, Any], targets: list[Token]
) -> tuple[torch.Tensor | None, torch.Tensor | None, list[int]] | None:
    """(contrast encoder input ``[S′_enc, d]`` or None, contrast decoder tokens' embeddings ``[T, d]``
    or None, the contrast target ids y′) for ``contrast_prompt`` / ``contrast_text``; None without
    either. The contrast encoder input is embedded as the encoder embeds ids (:func:`encoder_input_scale`)."""
    prompt_text, text = options.get("contrast_prompt"), options.get("contrast_text")
    if prompt_text is None and text is None:
        return None
    device = input_device(lm.model)
    encoder = None
    if prompt_text is not None:
        tokens = tokenize_with_spans(lm.tokenizer, prompt_text, add_special_tokens=True, add_bos=False)
        if not tokens:
            raise InputError("the contrast prompt is empty; give another source text to contrast with")
        with torch.no_grad():
            ids = torch.tensor([t.id for t in tokens], device=device)
            encoder = (lm.embedding(ids) * encoder_input_scale(lm.model)).detach()
    contrast_ids = [t.id for t in targets]
    continuation = None
    if text is not None:
        tokens = tokenize_with_spans(lm.tokenizer, text, add_special_tokens=False, add_bos=False)
        if len(tokens) < len(targets):
            raise InputError(
                f"the contrast text is {len(tokens)} token(s) but there are {len(targets)} targets; contrast "
                "tokens align with targets position by position: give at least as many, or fewer targets"
            )
        contrast_ids = [t.id for t in tokens[: len(targets)]]
        with torch.no_grad():
            continuation = lm.embedding(torch.tensor(contrast_ids, device=device)).detach()
    return encoder, continuation, contrast_ids


# Methods whose rules read one stack of blocks, or a decoder-only forward, and so cannot apply here:
# refused by name with what to use (attribution.py).
UNSUPPORTED_METHODS = {
    "lrp": "its rules are written for decoder-only GPT-2 and Llama-style blocks",
    "attnlrp": "its rules are written for decoder-only GPT-2 and Llama-style blocks",
    "attention": "it reads one stack's self-attention; an encoder-decoder has three kinds of attention",
    "value_zeroing": "it zeroes values in one stack's self-attention; an encoder-decoder has three kinds of attention",
}
