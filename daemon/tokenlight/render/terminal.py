"""Render an :class:`Attribution` for a terminal: coloured prompt, legend, per-target table.

Colours use 24-bit ANSI backgrounds; with ``color=False`` the same information is written as plain
text (each token followed by its score in brackets) so it survives pipes, logs and screen readers.
Every string that came from the model or the user is sanitised first, so a token can never emit
an escape sequence of its own.
"""

from __future__ import annotations

import math
import unicodedata
from typing import TYPE_CHECKING, Any

import numpy as np

from .colors import (
    RGB,
    Piece,
    delta_flagged,
    diverging_rgb,
    format_score,
    normalisation_scale,
    piece_score,
    prompt_pieces,
    sanitize,
    summed_scores,
    text_rgb,
    token_label,
    top_contributions,
)
from .faithfulness import faithfulness_lines

if TYPE_CHECKING:  # only for type hints: importing the engine package pulls in torch
    from ..engine.result import Attribution


RESET = "\x1b[0m"
DIM = "\x1b[2m"
BOLD = "\x1b[1m"
UNDERLINE_ITALIC = "\x1b[3;4m"

FLAG_NOTE = (
    "! |delta| > 5% of |f(x) - f(x')|: the method did not converge for this target; "
    "raise n_steps for a trustworthy attribution."
)
TOP_SPANS = 5
LEGEND_TEXT = "colours are relative to the largest |score| shown; numbers are raw"


def header_fields(res: Attribution) -> list[tuple[str, str]]:
    """The run's metadata as (label, value) pairs, shared with the HTML header."""
    fields = [
        ("model", res.model.name),
        ("device", res.model.device),
        ("dtype", res.model.dtype),
        ("method", res.method),
        ("step function", res.step_function),
        ("baseline", res.baseline),
        ("n_steps", "–" if res.n_steps is None else str(res.n_steps)),
    ]
    if res.contrast_token is not None:
        fields.append(("contrast token", repr(res.contrast_token)))
    return fields


def render_terminal(
    res: Attribution, *, color: bool = True, focus: int | None = None, top_spans: int = TOP_SPANS
) -> str:
    """The whole report as one string (ending in a newline).

    ``focus=None`` colours each prompt token by its attribution summed over every target;
    ``focus=k`` colours by target ``k``'s row alone (and its earlier targets too). A result with
    spans lists its ``top_spans`` largest (by |score|, summed or for the focused target) with their
    lines.
    """
    n_targets = len(res.target_tokens)
    if focus is not None and not 0 <= focus < n_targets:
        raise ValueError(f"focus={focus} is out of range: there are {n_targets} target tokens")
    lines = [_header(res), ""]
    lines.append(_prompt_block(res, color=color, focus=focus))
    lines.append("")
    lines.append(_legend(res, color=color, focus=focus))
    lines.append("")
    lines.extend(_table(res))
    if res.spans and top_spans > 0:
        lines.append("")
        lines.extend(_span_rows(res, focus, top_spans))
    lines.extend(f"note: {sanitize(n, keep_newlines=False)}" for n in res.notes)
    if res.faithfulness is not None:
        lines.extend(faithfulness_lines(res.faithfulness, [sanitize(t.text) for t in res.target_tokens]))
    if res.sanity is not None:
        lines.append(sanity_line(res.sanity))
    return "\n".join(lines) + "\n"


def sanity_line(sanity: dict[str, Any]) -> str:
    """The model-parameter randomisation check in one line."""
    if sanity["message"]:
        return f"sanity check: WARNING: {sanity['message']}"
    if sanity.get("note"):
        return f"sanity check: {sanity['note']}"
    rho = "—" if sanity["spearman"] is None else f"{sanity['spearman']:.3f}"
    return (
        f"sanity check: rank correlation {rho} with {len(sanity['layers'])} of {sanity['totalLayers']} layers "
        "re-initialised: the map depends on the weights"
    )


# ----------------------------------------------------------------------------------------------
def _header(res: Attribution) -> str:
    parts = [f"{label} {sanitize(value, keep_newlines=False)}" for label, value in header_fields(res)]
    return "Tokenlight · " + " · ".join(parts)


def _view_scores(res: Attribution, focus: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The scores that colour the prompt, and those of the earlier targets (focus only)."""
    n_src = len(res.source_tokens)
    if focus is None:
        if res.scores.shape[0] == 0:
            return np.full(n_src, np.nan), np.zeros(0)
        return summed_scores(res.source_scores), np.zeros(0)
    row = np.asarray(res.scores[focus], dtype=np.float64)
    return row[:n_src], row[n_src : n_src + focus]


def _view_scale(res: Attribution, focus: int | None) -> float:
    src, tgt = _view_scores(res, focus)
    return normalisation_scale(np.concatenate([src, tgt]))


def _prompt_block(res: Attribution, *, color: bool, focus: int | None) -> str:
    src_scores, tgt_scores = _view_scores(res, focus)
    scale = normalisation_scale(np.concatenate([src_scores, tgt_scores]))
    pieces = prompt_pieces(res.prompt, res.source_tokens)
    if color:
        body = "".join(_color_piece(p, piece_score(p, src_scores), scale) for p in pieces)
    else:
        body = _plain_pieces(pieces, src_scores)
    return body + _continuation(res, color=color, focus=focus, tgt_scores=tgt_scores, scale=scale)


def _visible_ws(text: str) -> str:
    """Text for a coloured chip: tabs become ⇥ (a coloured tab paints nothing), controls visible."""
    return sanitize(text, keep_newlines=True, keep_tabs=False)


def _paint(text: str, bg: RGB, *, style: str = "") -> str:
    """Colour ``text`` on ``bg``; each line is painted and reset on its own so the background
    never bleeds to the end of the terminal line, and a newline shows as ↵."""
    fg = text_rgb(bg)
    start = f"\x1b[48;2;{bg[0]};{bg[1]};{bg[2]}m\x1b[38;2;{fg[0]};{fg[1]};{fg[2]}m{style}"
    lines = _visible_ws(text).split("\n")
    out = []
    for i, line in enumerate(lines):
        chunk = line + ("↵" if i < len(lines) - 1 else "")
        out.append(f"{start}{chunk}{RESET}" if chunk else "")
    return "\n".join(out)


def _color_piece(piece: Piece, score: float, scale: float) -> str:
    if piece.is_gap:
        return sanitize(piece.text)
    bg = diverging_rgb(score, scale)
    if piece.special:
        return _paint(f"⟨{piece.text}⟩", bg, style=DIM)
    return _paint(piece.text, bg)


def _plain_text(piece: Piece) -> str:
    text = f"⟨{piece.text}⟩" if piece.special else piece.text
    return sanitize(text, keep_newlines=False, keep_tabs=False)


def _plain_pieces(pieces: list[Piece], scores: np.ndarray) -> str:
    """``tok[+0.12]|tok[-0.03]|...``; a line break follows a piece whose text ended one."""
    out: list[str] = []
    for i, p in enumerate(pieces):
        if p.is_gap:
            out.append(f"{_plain_text(p)}[·]")
        else:
            out.append(f"{_plain_text(p)}[{format_score(piece_score(p, scores))}]")
        if i < len(pieces) - 1:
            out.append("\n" if p.text.endswith("\n") else "|")
    return "".join(out)


def _continuation(res: Attribution, *, color: bool, focus: int | None, tgt_scores: np.ndarray, scale: float) -> str:
    """The generated text after the prompt, styled apart from it.

    With a focus, earlier targets are coloured by their attribution, the focused one is bold and
    later ones dim.
    """
    kind = "classified as" if "class" in res.target_kind else "generated"
    if focus is None:
        text = res.continuation or "".join(t.text for t in res.target_tokens)
        if not color:
            return f"\n⟶ {kind}: {token_label(text)}"
        return f"\n⟶ {kind}: " + "\n".join(
            f"{UNDERLINE_ITALIC}{line}{RESET}" if line else "" for line in _visible_ws(text).split("\n")
        )
    parts = []
    for j, tok in enumerate(res.target_tokens):
        text = f"⟨{tok.text}⟩" if tok.special else tok.text
        if j < focus:
            score = float(tgt_scores[j]) if j < len(tgt_scores) else math.nan
            parts.append(
                _paint(text, diverging_rgb(score, scale), style=UNDERLINE_ITALIC)
                if color
                else f"{token_label(tok.text)}[{format_score(score)}]"
            )
        elif j == focus:
            parts.append(
                _paint(text, (255, 255, 255), style=BOLD + UNDERLINE_ITALIC) if color else f"▶{token_label(tok.text)}◀"
            )
        else:
            parts.append(f"{DIM}{_visible_ws(text)}{RESET}" if color else token_label(tok.text))
    return f"\n⟶ {kind} (focus on target {focus}): " + ("" if color else " ").join(parts)


def _legend(res: Attribution, *, color: bool, focus: int | None) -> str:
    scale = _view_scale(res, focus)
    what = "summed over all targets" if focus is None else f"for target {focus}"
    if not color:
        return (
            f"legend: [score] after each token is its raw attribution {what}; "
            f"+ raises the target's score, - lowers it; {LEGEND_TEXT}."
        )
    neg, mid, pos = diverging_rgb(-scale, scale), diverging_rgb(0.0, scale), diverging_rgb(scale, scale)
    grey = diverging_rgb(math.nan, scale)
    return (
        f"legend ({what}): {_paint(' blue ', neg)} lowers the target's score · {_paint(' white ', mid)} 0 · "
        f"{_paint(' orange ', pos)} raises it · {_paint(' grey ', grey)} no score · "
        f"saturated at ±{format_score(scale, signed=False)}; {LEGEND_TEXT}."
    )


# ----------------------------------------------------------------------------------------------
def _width(text: str) -> int:
    """Display width in terminal cells (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def _column_label(res: Attribution, col: int) -> str:
    n_src = len(res.source_tokens)
    tok = res.source_tokens[col] if col < n_src else res.target_tokens[col - n_src]
    return token_label(tok.text)


def _table_rows(res: Attribution) -> tuple[list[list[str]], bool]:
    rows: list[list[str]] = []
    any_flag = False
    for k, tok in enumerate(res.target_tokens):
        fx = float(res.target_scores[k])
        fx_base = None if res.baseline_scores is None else float(res.baseline_scores[k])
        delta = None if res.deltas is None else float(res.deltas[k])
        flag = delta_flagged(res, k)
        any_flag |= flag
        row = res.scores[k] if k < res.scores.shape[0] else np.zeros(0)
        top = ", ".join(f"{_column_label(res, c)} {format_score(float(row[c]))}" for c in top_contributions(row))
        rows.append(
            [
                str(k),
                token_label(tok.text),
                format_score(tok.probability, signed=False),
                format_score(fx),
                format_score(fx_base),
                format_score(delta) + (" !" if flag else ""),
                top or "–",
            ]
        )
    return rows, any_flag


def _table(res: Attribution) -> list[str]:
    """One row per target: probability, f(x), f(x'), delta (flagged) and top-3 contributors."""
    head = ["#", "token", "p", "f(x)", "f(x')", "delta", "top contributions (token score)"]
    rows, any_flag = _table_rows(res)
    widths = [max(_width(r[i]) for r in [head, *rows]) for i in range(len(head))]
    numeric = {0, 2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        return "  ".join(
            _pad(c, widths[i], right=i in numeric) if i < len(cells) - 1 else c for i, c in enumerate(cells)
        ).rstrip()

    out = [line(head), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    if any_flag:
        out.append(FLAG_NOTE)
    return out


def span_lines(res: Attribution, index: int) -> str:
    """``12–30`` (1-based lines of the prompt) for span ``index``; "–" for a special token."""
    span = res.spans[index]
    if span.start is None or span.end is None:
        return "–"
    first = res.prompt.count("\n", 0, span.start) + 1
    last = res.prompt.count("\n", 0, max(span.start, span.end - 1)) + 1
    return str(first) if first == last else f"{first}–{last}"


def top_span_indices(res: Attribution, focus: int | None, k: int) -> list[int]:
    """The ``k`` spans with the largest |score| (summed over targets, or the focused target's)."""
    values = res.span_scores.astype(np.float64)
    row = np.nansum(values, axis=0) if focus is None else values[focus]
    order = sorted(range(len(res.spans)), key=lambda i: -abs(float(row[i])))
    return order[:k]


def _span_rows(res: Attribution, focus: int | None, k: int) -> list[str]:
    """The top spans: label, lines, score, and share of the total |score| of all spans."""
    values = res.span_scores.astype(np.float64)
    row = np.nansum(values, axis=0) if focus is None else values[focus]
    total = float(np.abs(row).sum()) or 1.0
    what = "summed over targets" if focus is None else f"target {focus}"
    granularity = res.options.get("granularity", "token")
    out = [f"top {min(k, len(res.spans))} of {len(res.spans)} spans ({granularity}, {what}):"]
    for i in top_span_indices(res, focus, k):
        label = sanitize(res.spans[i].label, keep_newlines=False)
        share = abs(float(row[i])) / total
        out.append(f"  {format_score(float(row[i])):>9}  {share:4.0%}  lines {span_lines(res, i):<8} {label}")
    return out
