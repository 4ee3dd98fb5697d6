"""The faithfulness figures (engine/faithfulness.py) as text lines and as an inline SVG plot.

The SVG is plain markup (paths, text), no script and no external resource, so it keeps the HTML
page's CSP ("default-src 'none'") intact. Numbers come from the result; nothing is recomputed here.
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 360, 200, 36
DELETION_COLOR, INSERTION_COLOR = "#b2182b", "#2166ac"  # ColorBrewer RdBu ends: colour-blind safe


def _short(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _spread(value: dict[str, float] | None) -> str:
    return "—" if value is None else f"{value['mean']:.3f} ± {value['std']:.3f}"


def faithfulness_lines(faith: dict[str, Any], target_texts: list[str]) -> list[str]:
    """One line per target and one for the sum: AUCs against the random orders'."""
    lines = [
        f"faithfulness ({faith['units']} removable source units, {faith['randomOrders']} random orders; 1 is ideal):"
    ]
    rows = [(f"target {f['target']} {target_texts[f['target']]!r}", f) for f in faith["targets"]]
    rows.append(("sum over targets", faith["total"]))
    for name, f in rows:
        if f["deletionAuc"] is None:
            lines.append(f"  {name}: undefined ({f['undefined']})")
            continue
        lines.append(
            f"  {name}: deletion AUC {_short(f['deletionAuc'])} (random {_spread(f['random']['deletionAuc'])}), "
            f"insertion AUC {_short(f['insertionAuc'])} (random {_spread(f['random']['insertionAuc'])}), "
            f"comprehensiveness@20% {f['comprehensiveness']['0.2']:.4g}, sufficiency@20% {f['sufficiency']['0.2']:.4g}"
        )
    return lines


def curves_svg(fractions: list[float], curves: list[tuple[str, str, list[float]]], title: str) -> str:
    """An SVG line plot of ``curves`` (label, colour, values over ``fractions``), axes labelled."""
    values = [v for _, _, ys in curves for v in ys]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi == lo:
        hi = lo + 1.0

    def x(f: float) -> float:
        return PAD + f * (WIDTH - 2 * PAD)

    def y(v: float) -> float:
        return HEIGHT - PAD - (v - lo) / (hi - lo) * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="currentColor"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="currentColor"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11" fill="currentColor">'
        "fraction of source tokens removed (deletion) or restored (insertion)</text>",
        f'<text x="{PAD - 4}" y="{PAD}" text-anchor="end" font-size="10" fill="currentColor">{hi:.3g}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end" font-size="10" fill="currentColor">{lo:.3g}</text>',
    ]
    for n, (label, color, ys) in enumerate(curves):
        points = " ".join(f"{x(f):.1f},{y(v):.1f}" for f, v in zip(fractions, ys, strict=True))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{PAD + 12 * n}" text-anchor="end" font-size="11" fill="{color}">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def faithfulness_html(faith: dict[str, Any], target_texts: list[str]) -> str:
    """The section of the HTML report: the summed curves as SVG and a table per target."""
    total = faith["total"]
    svg = curves_svg(
        faith["fractions"],
        [("deletion", DELETION_COLOR, total["deletion"]), ("insertion", INSERTION_COLOR, total["insertion"])],
        "deletion and insertion curves, summed over targets",
    )
    head = (
        "<tr><th>target</th><th>deletion AUC</th><th>random</th><th>insertion AUC</th><th>random</th>"
        "<th>compr. 5% / 10% / 20%</th><th>suff. 5% / 10% / 20%</th></tr>"
    )
    rows = [(f"{f['target']} {target_texts[f['target']]!r}", f) for f in faith["targets"]]
    rows.append(("sum", total))
    body = []
    for name, f in rows:
        keys = ("0.05", "0.1", "0.2")
        comp = " / ".join(f"{f['comprehensiveness'][k]:.3g}" for k in keys)
        suff = " / ".join(f"{f['sufficiency'][k]:.3g}" for k in keys)
        undefined = f' title="{escape(f["undefined"])}"' if f["undefined"] else ""
        body.append(
            f"<tr{undefined}><td>{escape(name)}</td><td>{_short(f['deletionAuc'])}</td>"
            f"<td>{escape(_spread(f['random']['deletionAuc']))}</td><td>{_short(f['insertionAuc'])}</td>"
            f"<td>{escape(_spread(f['random']['insertionAuc']))}</td><td>{comp}</td><td>{suff}</td></tr>"
        )
    note = (
        f"<p>{faith['units']} removable source units; {faith['randomOrders']} seeded random orders per target "
        "(mean ± std). Normalised AUCs: 1 is ideal, a straight line about 0.5.</p>"
    )
    return f'<h2>Faithfulness</h2>{note}<div>{svg}</div><table class="faith">{head}{"".join(body)}</table>'
