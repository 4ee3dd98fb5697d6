"""Spans: the context's tokens grouped into words, lines, blocks or symbols.

Spans tile the context exactly: every source token is in exactly one span, spans are contiguous and
in order. A span's code-point range runs from its first token's start to its last token's end (a
token that holds a newline and the next line's indentation belongs to the line it starts on).
Special tokens (BOS) are spans of their own, and so are a chat template's tokens (kind
``template``) at every granularity but ``turn``, where each turn holds its content and the template
tokens that open it (:mod:`.chat`).

A token method's span score is the sum of its tokens' scores: exact for the additive methods (every
method with a completeness delta: the span sums add up to f(x) − f(x′) like the tokens do), and a
plain aggregate for the others (saliency, attention). The span methods score spans directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .chat import ChatPrompt
from .errors import InputError
from .symbols import (
    NotParsable,
    Symbol,
    blocks,
    client_symbols,
    line_of,
    line_starts,
    partition,
    python_symbols,
    split_lines,
)
from .tokens import Token, Tokenizer

LABEL_WIDTH = 48


@dataclass(frozen=True)
class Span:
    """One span of the context.

    Attributes:
        kind: ``token``, ``special``, ``template``, ``word``, ``line``, ``block``, ``function``,
            ``method``, ``class`` (or an editor symbol's kind), ``turn``.
        label: what a person reads ("def parse_args", "line 12: return x").
        start, end: code points into the prompt (None for a special token).
        first, last: the source-token indices it covers (inclusive).
    """

    kind: str
    label: str
    start: int | None
    end: int | None
    first: int
    last: int


def build_spans(
    prompt: str,
    sources: Sequence[Token],
    granularity: str,
    tokenizer: Tokenizer,
    symbols: Sequence[dict[str, Any]] | None = None,
    chat: ChatPrompt | None = None,
) -> tuple[list[Span], list[str]]:
    """The spans of ``sources`` at ``granularity``, and notes (e.g. a fallback from symbols to blocks).

    ``symbols``: an editor's document symbols (``{start, end, kind, name}`` in code points into
    ``prompt``); when given, ``symbol`` uses them instead of Python's ast. ``chat``: the chat prompt
    ``sources`` came from (needed by ``turn``).
    """
    if granularity == "turn":
        if chat is None:
            raise InputError(
                "granularity turn splits a chat into its turns: turn the chat option on, or choose another"
            )
        return _turn_spans(sources, chat), []
    if granularity == "token":
        return [_token_span(t, i) for i, t in enumerate(sources)], []
    if granularity == "word":
        word_ids = chat.word_ids if chat is not None else _prompt_word_ids(prompt, sources, tokenizer)
        return _word_spans(prompt, sources, word_ids), []
    lines = split_lines(prompt)
    starts = line_starts(prompt)
    if granularity == "line":
        runs = [(i, i, "line", _line_label(lines, i, i)) for i in range(len(lines))]
        return _group_by_lines(sources, starts, runs), []
    if granularity == "block":
        return _group_by_lines(sources, starts, _block_runs(lines, 0, len(lines) - 1)), []
    if granularity == "symbol":
        notes: list[str] = []
        try:
            found = client_symbols(prompt, symbols) if symbols else python_symbols(prompt)
        except NotParsable as exc:
            notes.append(f"granularity symbol: the text is not parsable Python ({exc}) and no editor symbols came "
                         "with it, so it is split into blocks instead")  # fmt: skip
            found = []
        if not found and not notes:
            notes.append("granularity symbol: the context has no functions or classes, so it is split into blocks")
        runs = []
        for first, last, symbol in partition(len(lines), found):
            runs += _block_runs(lines, first, last) if symbol is None else [_symbol_run(first, last, symbol)]
        return _group_by_lines(sources, starts, runs), notes
    raise InputError(f"unknown granularity {granularity!r}; choose one of: token, word, line, block, symbol, turn")


def span_scores(scores: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    """float32 ``[T, n_spans]``: each span's score, the sum of its tokens' (NaN stays NaN)."""
    if not spans:
        return np.zeros((scores.shape[0], 0), dtype=np.float32)
    columns = [scores[:, s.first : s.last + 1].astype(np.float64).sum(axis=1) for s in spans]
    return np.stack(columns, axis=1).astype(np.float32)


def check_tiling(spans: Sequence[Span], n_sources: int) -> None:
    """Raise AssertionError unless ``spans`` cover tokens 0..n_sources-1 once each, in order."""
    expected = 0
    for s in spans:
        assert s.first == expected and s.last >= s.first, (s, expected)
        expected = s.last + 1
    assert expected == n_sources, (expected, n_sources)


# ----------------------------------------------------------------------------------------------


def _token_span(token: Token, index: int) -> Span:
    kind = "template" if token.template else "special" if token.special else "token"
    return Span(kind, token.text, token.start, token.end, index, index)


def _turn_spans(sources: Sequence[Token], chat: ChatPrompt) -> list[Span]:
    """One span per turn (the template tokens that open it included), and one for the template's
    reply prefix after the last turn when the model writes a new reply."""
    spans: list[Span] = []
    for i, (token, turn) in enumerate(zip(sources, chat.token_turns, strict=True)):
        if spans and chat.token_turns[spans[-1].first] == turn:
            last = spans[-1]
            start = last.start if last.start is not None else token.start
            end = token.end if token.end is not None else last.end
            spans[-1] = Span("turn", last.label, start, end, last.first, i)
        else:
            spans.append(Span("turn", chat.turn_label(turn)[1], token.start, token.end, i, i))
    return spans


def _prompt_word_ids(prompt: str, sources: Sequence[Token], tokenizer: Tokenizer) -> list[int | None]:
    """Per source token, its word in the tokenizer's own words (``word_ids()`` of its pre-tokenizer
    pieces); None for special tokens. The source tokens are the last of the prompt's tokens (a
    truncated context drops the first ones)."""
    word_ids = tokenizer(prompt, add_special_tokens=False).word_ids()
    plain = sum(1 for t in sources if not t.special)
    k = len(word_ids) - plain
    out: list[int | None] = []
    for token in sources:
        if token.special:
            out.append(None)
            continue
        out.append(word_ids[k] if 0 <= k < len(word_ids) else None)
        k += 1
    return out


def _word_spans(prompt: str, sources: Sequence[Token], word_ids: Sequence[int | None]) -> list[Span]:
    """Consecutive tokens of one word (``word_ids``, one per source token) in one span; special and
    template tokens alone."""
    spans: list[Span] = []
    previous = None
    for i, token in enumerate(sources):
        if token.special or token.template or token.start is None:
            spans.append(_token_span(token, i))
            previous = None
            continue
        word = word_ids[i]
        if spans and word is not None and word == previous:
            last = spans[-1]
            spans[-1] = Span("word", prompt[last.start : token.end], last.start, token.end, last.first, i)
        else:
            spans.append(Span("word", token.text, token.start, token.end, i, i))
        previous = word
    return spans


def _block_runs(lines: Sequence[str], first: int, last: int) -> list[tuple[int, int, str, str]]:
    return [(a, b, "block", _line_label(lines, a, b)) for a, b in blocks(lines, first, last)]


def _symbol_run(first: int, last: int, symbol: Symbol) -> tuple[int, int, str, str]:
    whole = first == symbol.first and last == symbol.last
    label = symbol.label if whole else f"{symbol.label} (lines {first + 1}–{last + 1})"
    return (first, last, symbol.kind, label)


def _line_label(lines: Sequence[str], first: int, last: int) -> str:
    text = next((lines[i].strip() for i in range(first, last + 1) if lines[i].strip()), "")
    if len(text) > LABEL_WIDTH:
        text = text[: LABEL_WIDTH - 1] + "…"
    where = f"line {first + 1}" if first == last else f"lines {first + 1}–{last + 1}"
    return f"{where}: {text}" if text else where


def _group_by_lines(
    sources: Sequence[Token], starts: Sequence[int], runs: Sequence[tuple[int, int, str, str]]
) -> list[Span]:
    """One span per run of lines that holds tokens (a token belongs to the line it starts on);
    special tokens alone."""
    run_of_line: dict[int, int] = {}
    for r, (first, last, _, _) in enumerate(runs):
        for line in range(first, last + 1):
            run_of_line[line] = r
    spans: list[Span] = []
    current: int | None = None
    for i, token in enumerate(sources):
        if token.special or token.start is None or token.end is None:
            spans.append(_token_span(token, i))
            current = None
            continue
        r = run_of_line[line_of(starts, token.start)]
        if current == r and spans:
            previous = spans[-1]
            spans[-1] = Span(previous.kind, previous.label, previous.start, token.end, previous.first, i)
        else:
            _, _, kind, label = runs[r]
            spans.append(Span(kind, label, token.start, token.end, i, i))
        current = r
    return spans
