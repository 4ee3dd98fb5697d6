"""The difference between two attributions: ``tokenlight diff A.json B.json``.

Tokens are aligned by their text in order (a longest-matching-blocks alignment, difflib's, over the
source tokens and, separately, over the target tokens), with offsets breaking no ties: an edit that
inserts or removes tokens shifts the offsets after it, and those tokens still align. Tokens present
in one result only are listed, never guessed at. For every aligned target and every aligned column
the difference is ``B − A``; a cell that is NaN (after the target's causal boundary) on either side
stays NaN. Works on the JSON form (``--format json``) or msgpack; imports neither torch nor the model.
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any

from .engine.errors import InputError


def load_result(path: Path) -> dict[str, Any]:
    """A result file in Tokenlight's JSON or msgpack form, as the JSON dict."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        from .engine.result import Attribution

        try:
            return Attribution.from_msgpack(data).to_json_dict()
        except Exception:
            raise InputError(
                f"{path} is neither a Tokenlight JSON result nor msgpack; write one with "
                "tokenlight attribute --format json --output FILE"
            ) from None
    if not isinstance(parsed, dict) or not {"sourceTokens", "targetTokens", "scores"} <= set(parsed):
        raise InputError(f"{path} is JSON but not a Tokenlight result (no sourceTokens / targetTokens / scores)")
    return parsed


def _pairs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return [(block.a + k, block.b + k) for block in matcher.get_matching_blocks() for k in range(block.size)]


def _label(token: dict[str, Any]) -> dict[str, Any]:
    return {k: token[k] for k in ("text", "start", "end") if k in token}


def diff_results(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``B − A`` over the aligned tokens, and the tokens found in one result only.

    Returns a dict: ``sourceTokens`` / ``targetTokens`` (the aligned ones, with their index in A and
    B), ``scores`` ``[T', S'+T']`` (None for NaN), ``onlyInA`` / ``onlyInB`` (``sources``,
    ``targets``), ``maxAbsDifference``, and each side's method and step function.
    """
    src_a, src_b = a["sourceTokens"], b["sourceTokens"]
    tgt_a, tgt_b = a["targetTokens"], b["targetTokens"]
    sources = _pairs([t["text"] for t in src_a], [t["text"] for t in src_b])
    targets = _pairs([t["text"] for t in tgt_a], [t["text"] for t in tgt_b])
    # the matrix's columns: the sources, then the targets (as earlier tokens of later targets)
    columns = sources + [(len(src_a) + i, len(src_b) + j) for i, j in targets]
    rows: list[list[float | None]] = []
    largest = 0.0
    for i, j in targets:
        row: list[float | None] = []
        for ca, cb in columns:
            va, vb = _cell(a["scores"], i, ca), _cell(b["scores"], j, cb)
            if va is None or vb is None:
                row.append(None)
                continue
            row.append(vb - va)
            largest = max(largest, abs(vb - va))
        rows.append(row)
    matched_sa, matched_sb = {i for i, _ in sources}, {j for _, j in sources}
    matched_ta, matched_tb = {i for i, _ in targets}, {j for _, j in targets}
    return {
        "a": {"method": a.get("method"), "stepFunction": a.get("stepFunction")},
        "b": {"method": b.get("method"), "stepFunction": b.get("stepFunction")},
        "sourceTokens": [{**_label(src_b[j]), "indexA": i, "indexB": j} for i, j in sources],
        "targetTokens": [{"text": tgt_b[j]["text"], "indexA": i, "indexB": j} for i, j in targets],
        "scores": rows,
        "onlyInA": {
            "sources": [{**_label(t), "index": k} for k, t in enumerate(src_a) if k not in matched_sa],
            "targets": [{"text": t["text"], "index": k} for k, t in enumerate(tgt_a) if k not in matched_ta],
        },
        "onlyInB": {
            "sources": [{**_label(t), "index": k} for k, t in enumerate(src_b) if k not in matched_sb],
            "targets": [{"text": t["text"], "index": k} for k, t in enumerate(tgt_b) if k not in matched_tb],
        },
        "maxAbsDifference": largest,
    }


def _cell(scores: list[list[Any]], row: int, column: int) -> float | None:
    value = scores[row][column] if column < len(scores[row]) else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def render_diff(d: dict[str, Any]) -> str:
    """A terminal summary: per aligned target, the tokens whose score changed most."""
    lines = [
        f"A: {d['a']['method']} / {d['a']['stepFunction']}   B: {d['b']['method']} / {d['b']['stepFunction']}",
        f"aligned: {len(d['sourceTokens'])} source and {len(d['targetTokens'])} target tokens; "
        f"largest |B − A| = {d['maxAbsDifference']:.4g}",
    ]
    names = [t["text"] for t in d["sourceTokens"]] + [t["text"] for t in d["targetTokens"]]
    for t, row in zip(d["targetTokens"], d["scores"], strict=True):
        changed = sorted(((abs(v), names[k], v) for k, v in enumerate(row) if v is not None and v != 0), reverse=True)[
            :5
        ]
        top = ", ".join(f"{name!r} {v:+.4g}" for _, name, v in changed) or "no change"
        lines.append(f"  target {t['text']!r}: {top}")
    for side in ("onlyInA", "onlyInB"):
        only = d[side]
        if only["sources"] or only["targets"]:
            lines.append(
                f"only in {side[-1]}: sources {[t['text'] for t in only['sources']]}, "
                f"targets {[t['text'] for t in only['targets']]}"
            )
    return "\n".join(lines) + "\n"
