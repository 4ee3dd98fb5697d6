"""Plain-text views of ``tokenlight compare`` and ``tokenlight attribute --against`` (the engine's
JSON-ready reports; nothing is recomputed here). Token texts go through :func:`sanitize` so a control
character in a token cannot drive the terminal."""

from __future__ import annotations

from typing import Any

from .colors import sanitize


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _converged(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "no delta"}[value]


def render_compare(report: dict[str, Any]) -> str:
    """The compare table (method · faithfulness · agreement · cost · converged?) and the recommendation."""
    lines = []
    if report["targetTokens"]:
        targets = " ".join(repr(sanitize(t)) for t in report["targetTokens"])
        lines.append(f"targets: {targets}")
    header = ["method", "deletion AUC", "random", "insertion AUC", "random", "mean ρ", "seconds", "eval s", "converged"]
    rows = [header]
    refused = []
    for m in report["methods"]:
        if m["status"] != "ok":
            refused.append(f"  {m['id']}: {sanitize(m['reason'], keep_newlines=False)}")
            continue
        rhos = [p["spearman"] for p in report["agreement"] if m["id"] in (p["a"], p["b"]) and p["spearman"] is not None]
        rows.append(
            [
                m["id"],
                _num(m["deletionAuc"]),
                _num(m["randomDeletionAuc"]),
                _num(m["insertionAuc"]),
                _num(m["randomInsertionAuc"]),
                _num(sum(rhos) / len(rhos) if rhos else None, 2),
                f"{m['seconds']:.2f}",
                f"{m['evaluationSeconds']:.2f}",
                _converged(m["converged"]),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
    if report["agreement"]:
        lines.append("")
        lines.append("rank agreement over source tokens (mean over targets):")
        for p in report["agreement"]:
            lines.append(f"  {p['a']} ~ {p['b']}: Spearman {_num(p['spearman'], 2)}, Kendall τ {_num(p['kendall'], 2)}")
    if refused:
        lines.append("")
        lines.append("refused or failed:")
        lines.extend(refused)
    rec = report["recommendation"]
    lines.append("")
    lines.append(
        f"recommended: {rec['method']} ({rec['reason']})" if rec["method"] else f"no recommendation: {rec['reason']}"
    )
    return "\n".join(lines) + "\n"


def render_against(report: dict[str, Any]) -> str:
    """Both inputs' scores and their difference per aligned token, target by target."""
    lines = [f"method {report['method']}; target: {sanitize(report['target'], keep_newlines=False)}"]
    for t, target in enumerate(report["targetTokens"]):
        lines.append("")
        lines.append(f"target {t} {sanitize(target)!r}:   A          B          B − A")
        for row in report["aligned"]:
            a = "—" if row["scoresA"] is None else f"{row['scoresA'][t]:+.4f}"
            b = "—" if row["scoresB"] is None else f"{row['scoresB'][t]:+.4f}"
            d = "—" if row["difference"] is None else f"{row['difference'][t]:+.4f}"
            text = sanitize(row["text"], keep_newlines=False)
            if row["textB"] is not None and row["a"] is not None and row["textB"] != row["text"]:
                text += f" → {sanitize(row['textB'], keep_newlines=False)}"
            lines.append(f"  {text!r:<20} {a:>10} {b:>10} {d:>10}")
    return "\n".join(lines) + "\n"
