"""Render an :class:`Attribution` as one standalone HTML5 page: coloured prompt and heatmap.

The page loads nothing and runs nothing: no external resources, no JavaScript, and a CSP that
forbids both, so a report can be opened from anywhere. Every string that came from the model or
the user goes through :func:`html.escape` (quotes included), so a token spelled like markup shows
as text.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

import numpy as np

from .colors import (
    delta_flagged,
    diverging_rgb,
    format_score,
    normalisation_scale,
    piece_score,
    prompt_pieces,
    rgb_hex,
    sanitize,
    summed_scores,
    text_rgb,
    token_label,
)
from .faithfulness import faithfulness_html
from .terminal import FLAG_NOTE, LEGEND_TEXT, header_fields, sanity_line

if TYPE_CHECKING:  # only for type hints: importing the engine package pulls in torch
    from ..engine.result import Attribution


CSP = "default-src 'none'; style-src 'unsafe-inline'"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; font-family: ui-monospace, monospace; }
.prompt { font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 1.9;
  border: 1px solid #ddd; padding: .75rem; border-radius: 4px; }
.tok { border-radius: 2px; padding: .1em 0; }
.tok.special { opacity: .75; font-size: .85em; }
.ws { opacity: .55; }
.cont { text-decoration: underline; font-style: italic; color: #444; }
.scroll { overflow: auto; max-width: 100%; max-height: 85vh; }
table.heatmap { border-collapse: collapse; font-family: ui-monospace, monospace; font-size: .75rem; }
table.heatmap th, table.heatmap td { border: 1px solid #e4e4e4; padding: 2px 4px; }
table.heatmap thead th { position: sticky; top: 0; z-index: 1; background: #fff; white-space: pre;
  max-width: 8ch; overflow: hidden; text-overflow: ellipsis; font-weight: 400; }
table.heatmap thead th.target { font-style: italic; }
table.heatmap th.row { position: sticky; left: 0; background: #fff; text-align: left; white-space: pre;
  font-weight: 400; }
table.heatmap td { min-width: 2.6em; text-align: right; }
table.heatmap td.nan { background: #bebebe; }
table.heatmap td:hover { outline: 2px solid #000; outline-offset: -2px; }
.tok:hover { outline: 1px solid #000; }
.flag { color: #b00; font-weight: 700; }
.legend span.sw { display: inline-block; padding: 0 .5em; margin: 0 .25em; border-radius: 2px; }
"""


def render_html(res: Attribution) -> str:
    """The whole report as a standalone HTML5 document."""
    title = f"Tokenlight — {res.model.name} — {res.method}"
    body = [
        _header(res),
        "<h2>Prompt</h2>",
        _prompt(res),
        "<h2>Legend</h2>",
        _legend(res),
        "<h2>Heatmap</h2>",
        _heatmap(res),
        _layer_heatmap(res),
        _span_table(res),
        _notes(res),
        _evaluation(res),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _e(text: object) -> str:
    """Escape for text and attribute values alike; control characters made visible first."""
    return escape(sanitize(str(text)), quote=True)


def _style(value: float, scale: float) -> str:
    bg = diverging_rgb(value, scale)
    return f"background:{rgb_hex(bg)};color:{rgb_hex(text_rgb(bg))}"


def _exact(value: float) -> str:
    """The shortest string that round-trips the stored float32."""
    return str(np.float32(value))


# ----------------------------------------------------------------------------------------------
def _header(res: Attribution) -> str:
    items = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in header_fields(res))
    return f'<header><h1>Tokenlight</h1><dl class="meta">{items}</dl></header>'


def _prompt_tooltip(res: Attribution, indices: tuple[int, ...], total: float) -> str:
    """Plain-text tooltip: the summed score, then each target's score, largest |score| first."""
    n_targets = res.scores.shape[0]
    lines = [f"summed score {_exact(total) if math.isfinite(total) else 'none'} over {n_targets} target(s)"]
    per_target = [
        (k, float(np.nansum(res.scores[k, list(indices)])))
        for k in range(n_targets)
        if not np.all(np.isnan(res.scores[k, list(indices)]))
    ]
    per_target.sort(key=lambda kv: -abs(kv[1]))
    for k, v in per_target[:5]:
        label = token_label(res.target_tokens[k].text) if k < len(res.target_tokens) else str(k)
        lines.append(f"→ target {k} {label}: {format_score(v)}")
    if len(per_target) > 5:
        lines.append(f"… and {len(per_target) - 5} more")
    return "\n".join(lines)


def _visible_html(text: str) -> str:
    """Escaped token text; a newline shows as a faint ↵ before the real line break."""
    return "\n".join(_e(line) for line in text.split("\n")).replace("\n", '<span class="ws">↵</span>\n')


def _prompt(res: Attribution) -> str:
    n_src = len(res.source_tokens)
    summed = summed_scores(res.source_scores) if res.scores.shape[0] else np.full(n_src, np.nan)
    scale = normalisation_scale(summed)
    out = []
    for piece in prompt_pieces(res.prompt, res.source_tokens):
        if piece.is_gap:
            out.append(_e(piece.text))
            continue
        total = piece_score(piece, summed)
        text = f"⟨{piece.text}⟩" if piece.special else piece.text
        cls = "tok special" if piece.special else "tok"
        tip = _prompt_tooltip(res, piece.indices, total)
        style = _style(total, scale)
        out.append(f'<span class="{cls}" style="{style}" title="{_e(tip)}">{_visible_html(text)}</span>')
    continuation = res.continuation or "".join(t.text for t in res.target_tokens)
    out.append(f'<span class="cont" title="generated continuation">{_visible_html(continuation)}</span>')
    return f'<div class="prompt">{"".join(out)}</div>'


def _legend(res: Attribution) -> str:
    scale = normalisation_scale(res.scores)

    def swatch(value: float, label: str) -> str:
        return f'<span class="sw" style="{_style(value, scale)}">{_e(label)}</span>'

    return (
        '<p class="legend">'
        f"{swatch(-scale, 'blue')} lowers the target's score {swatch(0.0, 'white')} 0 "
        f"{swatch(scale, 'orange')} raises it {swatch(math.nan, 'grey')} no score (at or after "
        f"the target's own position). Saturated at ±{_e(format_score(scale, signed=False))}; "
        f"{_e(LEGEND_TEXT)}. The prompt above is coloured by each token's score summed over all "
        "targets, on its own scale.</p>"
    )


def _column_tokens(res: Attribution) -> list[tuple[str, str]]:
    """(label, kind) per heatmap column: the S source tokens, then the targets."""
    cols = [(t.text, "source") for t in res.source_tokens]
    cols += [(t.text, "target") for t in res.target_tokens]
    return cols[: res.scores.shape[1]]


def _row_label(res: Attribution, k: int) -> str:
    tok = res.target_tokens[k]
    delta = None if res.deltas is None else float(res.deltas[k])
    flag = delta_flagged(res, k)
    flag_html = f' <span class="flag" title="{_e(FLAG_NOTE)}">!</span>' if flag else ""
    return (
        f"{_e(token_label(tok.text))}  p={_e(format_score(tok.probability, signed=False))}"
        f"  Δ={_e(format_score(delta))}{flag_html}"
    )


def _cell(res: Attribution, k: int, col: int, label: str, kind: str, scale: float) -> str:
    value = float(res.scores[k, col])
    if math.isnan(value):
        return '<td class="nan"></td>'
    target = token_label(res.target_tokens[k].text)
    tip = f"score {_exact(value)} — target {target} ← {kind} {token_label(label)}"
    return f'<td style="{_style(value, scale)}" title="{_e(tip)}">{_e(format_score(value))}</td>'


def _column_title(col: int, n_src: int, text: str, kind: str) -> str:
    index = col if kind == "source" else col - n_src
    return f"position {col}: {kind} token {index} {token_label(text)}"


def _heatmap(res: Attribution) -> str:
    """Rows: targets; columns: every position; each cell coloured by its raw score."""
    scale = normalisation_scale(res.scores)
    cols = _column_tokens(res)
    n_src = len(res.source_tokens)
    head = "".join(
        f'<th scope="col" class="{kind}" title="{_e(_column_title(i, n_src, text, kind))}">{_e(token_label(text))}</th>'
        for i, (text, kind) in enumerate(cols)
    )
    rows = []
    for k in range(min(res.scores.shape[0], len(res.target_tokens))):
        cells = "".join(_cell(res, k, c, text, kind, scale) for c, (text, kind) in enumerate(cols))
        rows.append(f'<tr><th scope="row" class="row">{_row_label(res, k)}</th>{cells}</tr>')
    flagged = any(delta_flagged(res, k) for k in range(len(res.target_tokens)))
    foot = f'<p class="flag">{_e(FLAG_NOTE)}</p>' if flagged else ""
    return (
        '<div class="scroll"><table class="heatmap">'
        f'<thead><tr><th scope="col">target \\ position</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{foot}"
    )


def _layer_heatmap(res: Attribution) -> str:
    """The per-layer view (option per_layer): rows are blocks (0 = first), columns the positions the
    target sees, one colour scale over the whole matrix (rows at two depths are shares of the same
    output change, so they are compared on one scale)."""
    if res.layer_scores is None or res.layer_deltas is None or res.layer_target is None:
        return ""
    t = res.layer_target
    n_src = len(res.source_tokens)
    cols = _column_tokens(res)[: n_src + t]
    matrix = res.layer_scores[:, : len(cols)]
    scale = normalisation_scale(matrix)
    head = "".join(
        f'<th scope="col" class="{kind}" title="{_e(_column_title(i, n_src, text, kind))}">{_e(token_label(text))}</th>'
        for i, (text, kind) in enumerate(cols)
    )
    target = token_label(res.target_tokens[t].text)
    rows = []
    for layer in range(matrix.shape[0]):
        cells = []
        for c, (text, kind) in enumerate(cols):
            value = float(matrix[layer, c])
            tip = f"score {_exact(value)} — target {target} at block {layer} ← {kind} {token_label(text)}"
            cells.append(f'<td style="{_style(value, scale)}" title="{_e(tip)}">{_e(format_score(value))}</td>')
        label = f"block {layer}  Δ={format_score(float(res.layer_deltas[layer]))}"
        rows.append(f'<tr><th scope="row" class="row">{_e(label)}</th>{"".join(cells)}</tr>')
    return (
        f"<h2>Through the layers: target {t} {_e(target)}</h2>"
        "<p>Layer Integrated Gradients at the residual stream after each block; each row adds up to the "
        "same output change f(x) − f(x′) (its Δ is what it misses).</p>"
        '<div class="scroll"><table class="heatmap layers">'
        f'<thead><tr><th scope="col">block \\ position</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _notes(res: Attribution) -> str:
    if not res.notes:
        return ""
    items = "".join(f"<li>{_e(n)}</li>" for n in res.notes)
    return f'<h2>Notes</h2><ul class="notes">{items}</ul>'


def _span_table(res: Attribution) -> str:
    """One row per span (label, lines, a cell per target), coloured on the spans' own scale."""
    if not res.spans:
        return ""
    from .terminal import span_lines

    scale = normalisation_scale(res.span_scores)
    head = "".join(
        f'<th scope="col" class="target">{_e(token_label(t.text))}</th>'
        for t in res.target_tokens[: res.span_scores.shape[0]]
    )
    rows = []
    for i, span in enumerate(res.spans):
        cells = []
        for k in range(res.span_scores.shape[0]):
            value = float(res.span_scores[k, i])
            tip = f"span score {_exact(value)} — target {token_label(res.target_tokens[k].text)} ← {span.label}"
            cells.append(f'<td style="{_style(value, scale)}" title="{_e(tip)}">{_e(format_score(value))}</td>')
        rows.append(
            f'<tr><th scope="row" class="row">{_e(span.label)}</th><td>{_e(span.kind)}</td>'
            f"<td>{_e(span_lines(res, i))}</td>{''.join(cells)}</tr>"
        )
    granularity = res.options.get("granularity", "token")
    return (
        f"<h2>Spans ({_e(granularity)})</h2>"
        '<div class="scroll"><table class="heatmap spans">'
        f'<thead><tr><th scope="col">span</th><th scope="col">kind</th><th scope="col">lines</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _evaluation(res: Attribution) -> str:
    """Faithfulness curves (SVG) and the sanity check, when the result carries them."""
    parts = []
    if res.faithfulness is not None:
        parts.append(faithfulness_html(res.faithfulness, [t.text for t in res.target_tokens]))
    if res.sanity is not None:
        parts.append(f"<h2>Sanity check</h2><p>{_e(sanity_line(res.sanity))}</p>")
    return "".join(parts)
