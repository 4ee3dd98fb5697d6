"""Tokens and their character spans in the text they came from."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, TypeAlias

from .errors import InputError

# A Hugging Face fast tokenizer. Not `PreTrainedTokenizerBase`: transformers types its methods without
# overloads (`convert_ids_to_tokens(int)` is `str | list[str]`), so each call site would need a cast.
Tokenizer: TypeAlias = Any


@dataclass(frozen=True)
class Token:
    """One token of the prompt or of the target.

    Attributes:
        text (str): for a token with a span, exactly ``text[start:end]`` of the string it came from
            (the byte pieces of one multi-byte character all carry that character); for a special
            token, its spelling (``<|endoftext|>``).
        id (int): the vocabulary id (a class index for a sequence classifier's target).
        start, end (int | None): code-point offsets into the prompt (source tokens) or into the
            target text / generated continuation (target tokens); ``None`` for special tokens.
        special (bool): BOS, EOS, CLS, SEP, ... Special tokens are kept and attributed.
        probability (float | None): for target tokens, the model's probability of this token.
        label (str | None): how to show a token whose own bytes are not whole characters (a byte
            piece of a multi-byte character): ``<0xE2>``, or ``<0xE2><0x86>`` for two pieces' worth,
            decodable bytes as themselves (``<0xE2>v``). None when ``text`` shows the token as is.
        side (str | None): for encoder-decoder models, ``"encoder"`` or ``"decoder"``; None otherwise.
        template (bool): a chat template's own token (a role header, ``<|im_start|>``, the assistant
            prefix; :mod:`.chat`): in the prompt the model saw, not in the user's text (no span).
    """

    text: str
    id: int
    start: int | None
    end: int | None
    special: bool
    probability: float | None = None
    label: str | None = None
    side: str | None = None
    template: bool = False


_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@functools.cache
def _unicode_to_byte() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet, inverted: the printable character each byte is spelled
    with in the vocabulary → that byte (the tokenizers library's ByteLevel pre-tokenizer)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def byte_label(tokenizer: Tokenizer, token_id: int) -> str | None:
    """``<0xNN>`` for each byte of the token that does not complete a character on its own, or None
    when the token decodes cleanly (its text shows it). Byte-fallback vocabularies (SentencePiece)
    spell such tokens ``<0xNN>`` already; byte-level BPE spells bytes as printable characters,
    mapped back here. Shown instead of an empty string or U+FFFD, which say nothing."""
    piece = tokenizer.convert_ids_to_tokens(token_id)
    if not isinstance(piece, str):
        return None
    if _BYTE_TOKEN.fullmatch(piece):
        return piece[:3] + piece[3:5].upper() + ">"
    decoded = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
    if "\ufffd" not in decoded:
        return None
    table = _unicode_to_byte()
    if not all(ch in table for ch in piece):
        return None  # not byte-level: nothing better to show than the decoded text
    raw = bytes(table[ch] for ch in piece)
    shown = raw.decode("utf-8", errors="backslashreplace")
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: f"<0x{m.group(1).upper()}>", shown)


def tokenize_with_spans(tokenizer: Tokenizer, text: str, *, add_special_tokens: bool, add_bos: bool) -> list[Token]:
    """Tokenize ``text`` keeping each token's span; prepend BOS when ``add_bos`` and the tokenizer
    did not add one itself (GPT-2-style tokenizers never do; Llama-style ones do)."""
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(
            f"the tokenizer {type(tokenizer).__name__} has no offset mapping; Tokenlight needs a fast "
            "(Rust) tokenizer: save the model with a tokenizer.json"
        )
    enc = tokenizer(
        text,
        add_special_tokens=add_special_tokens,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    tokens: list[Token] = []
    for tid, (start, end), special in zip(
        enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"], strict=True
    ):
        if special:
            tokens.append(Token(tokenizer.convert_ids_to_tokens(tid), tid, None, None, True))
        else:
            tokens.append(Token(text[start:end], tid, start, end, False, label=byte_label(tokenizer, tid)))
    tokens = _cover_combining_marks(tokens, text)
    bos = tokenizer.bos_token_id
    # only a BOS the tokenizer added counts: "<|endoftext|>" typed in the prompt is text with a span
    if add_bos and bos is not None and not (tokens and tokens[0].special and tokens[0].id == bos):
        tokens.insert(0, Token(tokenizer.convert_ids_to_tokens(bos), bos, None, None, True))
    return tokens


def _cover_combining_marks(tokens: list[Token], text: str) -> list[Token]:
    """A normalising tokenizer (NFKC, NFC) composes "e" + U+0301 into one "é" whose offsets cover the
    "e" only; the accent then belongs to no token and has no colour or hover. Give such uncovered
    combining marks to the token before them, so every character of the prompt has its token."""
    out = list(tokens)
    spanned = [i for i, t in enumerate(out) if t.start is not None and t.end is not None]
    for n, i in enumerate(spanned):
        token = out[i]
        limit = out[spanned[n + 1]].start if n + 1 < len(spanned) else len(text)
        end = token.end
        assert end is not None and limit is not None
        while end < limit and unicodedata.combining(text[end]):
            end += 1
        if end != token.end:
            out[i] = Token(
                text[token.start : end], token.id, token.start, end, token.special, token.probability, token.label
            )
    return out


def continuation_tokens(tokenizer: Tokenizer, ids: list[int]) -> tuple[str, list[Token]]:
    """Tokens for generated ids, with spans into their decoded text.

    Spans come from decoding growing prefixes, which is right for byte-level BPE (a token that
    ends inside a multi-byte character gets an empty span; the one completing it gets the char).
    """
    special_ids = set(tokenizer.all_special_ids)
    tokens: list[Token] = []
    text = ""
    for i, tid in enumerate(ids):
        if tid in special_ids:
            tokens.append(Token(tokenizer.convert_ids_to_tokens(tid), tid, None, None, True))
            continue
        normal = [t for t in ids[: i + 1] if t not in special_ids]
        decoded = tokenizer.decode(normal, clean_up_tokenization_spaces=False)
        # a trailing U+FFFD is an incomplete character still waiting for its next byte pieces
        stable = decoded[:-1] if decoded.endswith("\ufffd") else decoded
        start = len(text) if stable.startswith(text) else min(len(text), len(stable))
        text = stable
        tokens.append(Token(text[start:], tid, start, len(text), False, label=byte_label(tokenizer, tid)))
    return text, tokens


def forced_targets(tokenizer: Tokenizer, target_text: str, max_target_tokens: int | None) -> tuple[str, list[Token]]:
    """The continuation and its tokens for a forced ``target_text`` (its first ``max_target_tokens``
    tokens when given, the continuation cut to them)."""
    if target_text == "":
        raise InputError("the target text is empty; give the text to force-decode")
    targets = tokenize_with_spans(tokenizer, target_text, add_special_tokens=False, add_bos=False)
    continuation = target_text
    if max_target_tokens is not None:
        if max_target_tokens < 1:
            raise InputError(f"max_target_tokens must be at least 1 (got {max_target_tokens})")
        targets = targets[:max_target_tokens]
        continuation = target_text[: max((t.end or 0) for t in targets)]
    return continuation, targets
