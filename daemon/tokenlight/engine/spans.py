"""Spans: the context's tokens grouped into words, lines, blocks or symbols.

Spans tile the context exactly: every source token is in exactly one span, spans are contiguous and
in order. A span's code-point range runs from its first token's start to its last token's end (a
token that holds a newline and the next line's indentation belongs to the line it starts on).
Special tokens (BOS) are spans of their own.

A token method's span score is the sum of its tokens' scores: exact for the additive methods (every
method with a completeness delta: the span sums add up to f(x) − f(x′) like the tokens do), and a
plain aggregate for the others (saliency, attention). The span methods score spans directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .symbols import NotParsable, Symbol, blocks, client_symbols, line_of, line_starts, partition, python_symbols
from .tokens import Token, Tokenizer

LABEL_WIDTH = 48


@dataclass(frozen=True)
class Span:
    """One span of the context.

    Attributes:
        kind: ``token``, ``special``, ``word``, ``line``, ``block``, ``function``, ``method``, ``class``
            (or an editor symbol's kind).
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
) -> tuple[list[Span], list[str]]:
    """The spans of ``sources`` at ``granularity``, and notes (e.g. a fallback from symbols to blocks).

    ``symbols``: an editor's document symbols (``{start, end, kind, name}`` in code points into
    ``prompt``); when given, ``symbol`` uses them instead of Python's ast.
    """
    if granularity == "token":
        return [_token_span(t, i) for i, t in enumerate(sources)], []
    if granularity == "word":
        return _word_spans(prompt, sources, tokenizer), []
    lines = prompt.split("\n")
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
    raise InputError(f"unknown granularity {granularity!r}; choose one of: token, word, line, block, symbol")


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
    return Span("special" if token.special else "token", token.text, token.start, token.end, index, index)


def _word_spans(prompt: str, sources: Sequence[Token], tokenizer: Tokenizer) -> list[Span]:
    """The tokenizer's own words (``word_ids()`` of its pre-tokenizer pieces). The source tokens
    are the last of the prompt's tokens (a truncated context drops the first ones)."""
    word_ids = tokenizer(prompt, add_special_tokens=False).word_ids()
    plain = sum(1 for t in sources if not t.special)
    offset = len(word_ids) - plain
    spans: list[Span] = []
    previous = None
    k = offset
    for i, token in enumerate(sources):
        if token.special:
            spans.append(_token_span(token, i))
            previous = None
            continue
        word = word_ids[k] if 0 <= k < len(word_ids) else None
        k += 1
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
