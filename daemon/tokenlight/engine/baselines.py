"""Baselines x′ for path methods: what an input token is compared against.

``zero`` is the all-zero embedding vector; the others put one token's embedding at every position.
When the baseline token *is* the input token at a position, x − x′ = 0 there and every path method's
attribution to it is exactly 0: we report those positions so the user knows why (seed 000).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError
from .tokens import Tokenizer

NAMED_BASELINES = ("zero", "unk", "pad", "eos", "mask")


@dataclass(frozen=True)
class Baseline:
    """A resolved baseline: ``token_id`` None means the zero vector."""

    spec: str
    token_id: int | None
    token_text: str | None


def resolve_baseline(spec: str, tokenizer: Tokenizer) -> Baseline:
    """``zero | unk | pad | eos | mask | token:<text>`` -> :class:`Baseline`, or a clear error."""
    if spec == "zero":
        return Baseline(spec, None, None)
    if spec in ("unk", "pad", "eos", "mask"):
        token_id = getattr(tokenizer, f"{spec}_token_id", None)
        if token_id is None:
            available = [b for b in NAMED_BASELINES[1:] if getattr(tokenizer, f"{b}_token_id", None) is not None]
            raise InputError(
                f"this model's tokenizer has no {spec.upper()} token, so baseline {spec!r} is unavailable; "
                f"use one of: zero, {', '.join([*available, 'token:<text>'])}"
            )
        return Baseline(spec, int(token_id), tokenizer.convert_ids_to_tokens(int(token_id)))
    if spec.startswith("token:"):
        text = spec[len("token:") :]
        ids = single_token_id(tokenizer, text, what="baseline token")
        return Baseline(spec, ids, text)
    raise InputError(f"unknown baseline {spec!r}; use one of: {', '.join(NAMED_BASELINES)}, token:<text>")


def single_token_id(tokenizer: Tokenizer, text: str, *, what: str) -> int:
    """The id of ``text`` when it is exactly one token (special tokens included), else an error
    that shows how the tokenizer splits it."""
    if text == "":
        raise InputError(f"the {what} is empty; give a text that is exactly one token")
    vocab_id = tokenizer.convert_tokens_to_ids(text)
    if text in tokenizer.all_special_tokens and vocab_id is not None:
        return int(vocab_id)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        pieces = ", ".join(repr(tokenizer.decode([i])) for i in ids)
        raise InputError(f"the {what} {text!r} is {len(ids)} tokens ({pieces}); give a text that is exactly one token")
    return int(ids[0])
