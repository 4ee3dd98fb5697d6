"""Which method explains this prompt best: several methods on one prompt, each evaluated
(:mod:`.faithfulness`), their rank agreement, and a recommendation with its reason.

Every requested method appears in the answer: those that ran with their figures, those that failed
or were refused for this model with the engine's own message. A missing row would read as "not
tried"; a refused one says why.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .attribution import attribute, source_units
from .errors import AttributionCancelled, InputError, TokenlightError
from .methods import get_method
from .models import LoadedModel
from .options import resolve
from .ranking import kendall_tau, mean_or_none, spearman
from .result import Attribution

# fast methods that need no tuning and cover gradients, paths and perturbation
DEFAULT_COMPARE_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "occlusion")


def compare(
    lm: LoadedModel,
    text: str = "",
    *,
    methods: Sequence[str] | None = None,
    target_text: str | None = None,
    max_target_tokens: int | None = None,
    target_class: int | str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Attribute ``text`` with each of ``methods`` (default :data:`DEFAULT_COMPARE_METHODS`), evaluate
    each, and recommend one. Options apply to every method (``evaluate`` is always on)."""
    ids = list(dict.fromkeys(methods or DEFAULT_COMPARE_METHODS))
    if not ids:
        raise InputError("name at least one method to compare (e.g. --methods saliency,integrated_gradients)")
    options = {**options, "evaluate": True}
    resolve(options)  # a bad option is the request's error, not every method's refusal
    rows: list[dict[str, Any]] = []
    results: dict[str, Attribution] = {}
    for n, method_id in enumerate(ids):
        if is_cancelled is not None and is_cancelled():
            raise AttributionCancelled("comparison cancelled")
        if progress is not None:
            progress(n, len(ids), f"method {n + 1} of {len(ids)}: {method_id}")
        try:
            label = get_method(method_id).label
            res = attribute(
                lm,
                text,
                method=method_id,
                target_text=target_text,
                max_target_tokens=max_target_tokens,
                target_class=target_class,
                is_cancelled=is_cancelled,
                **options,
            )
        except AttributionCancelled:
            raise
        except TokenlightError as exc:  # refused for this model or these options, in the method's words
            rows.append({"id": method_id, "status": "refused", "reason": str(exc)})
            continue
        except Exception as exc:  # a bug in one method must not hide the others' answers; say it was one
            rows.append({"id": method_id, "status": "failed", "reason": f"internal error: {type(exc).__name__}: {exc}"})
            continue
        results[method_id] = res
        rows.append(_row(method_id, label, res))
    if progress is not None:
        progress(len(ids), len(ids), "compared")
    first = next(iter(results.values()), None)
    return {
        "model": None if first is None else {"name": first.model.name, "device": first.model.device},
        "prompt": text,
        "continuation": None if first is None else first.continuation,
        "sourceTokens": [] if first is None else [{"text": t.text, "special": t.special} for t in first.source_tokens],
        "targetTokens": [] if first is None else [t.text for t in first.target_tokens],
        "fractions": None if first is None or first.faithfulness is None else first.faithfulness["fractions"],
        "methods": rows,
        "agreement": agreement(results),
        "recommendation": recommend(rows),
    }


def _row(method_id: str, label: str, res: Attribution) -> dict[str, Any]:
    faith = res.faithfulness
    assert faith is not None
    converged = None if res.converged is None else bool(np.all(res.converged))
    return {
        "id": method_id,
        "label": label,
        "status": "ok",
        "family": get_method(method_id).family,
        "seconds": res.elapsed_ms / 1000.0,  # the attribution's own cost, without its evaluation
        "evaluationSeconds": faith["elapsedMs"] / 1000.0,
        "converged": converged,
        "warnings": list(res.warnings),
        "deletionAuc": faith["mean"]["deletionAuc"],
        "insertionAuc": faith["mean"]["insertionAuc"],
        "randomDeletionAuc": faith["mean"]["randomDeletionAuc"],
        "randomInsertionAuc": faith["mean"]["randomInsertionAuc"],
        "comprehensiveness": faith["total"]["comprehensiveness"],
        "sufficiency": faith["total"]["sufficiency"],
        "deletion": faith["total"]["deletion"],  # the curves summed over targets: what the plot draws
        "insertion": faith["total"]["insertion"],
        "faithfulness": faith,
    }


def agreement(results: dict[str, Attribution]) -> list[dict[str, Any]]:
    """Spearman's ρ and Kendall's τ between every pair of methods over the non-special source tokens,
    per target, averaged over targets (pairs whose targets differ are reported without numbers)."""
    pairs: list[dict[str, Any]] = []
    for (a, ra), (b, rb) in itertools.combinations(results.items(), 2):
        same = [t.id for t in ra.target_tokens] == [t.id for t in rb.target_tokens] and len(ra.source_tokens) == len(
            rb.source_tokens
        )
        if not same:
            pairs.append({"a": a, "b": b, "spearman": None, "kendall": None, "reason": "different targets or tokens"})
            continue
        columns = [u for u, _ in source_units(ra.source_tokens, None)]
        sa, sb = ra.source_scores[:, columns], rb.source_scores[:, columns]
        rho = [spearman(sa[t], sb[t]) for t in range(sa.shape[0])]
        tau = [kendall_tau(sa[t], sb[t]) for t in range(sa.shape[0])]
        pairs.append({"a": a, "b": b, "spearman": mean_or_none(rho), "kendall": mean_or_none(tau)})
    return pairs


def recommend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The method with the highest mean deletion AUC among those that converged (or have no delta)
    and carry no warning; failing that, among all that ran. Attention weights are never recommended:
    they are not an attribution (the method says so), however well they happen to order tokens.
    With the reason, in words."""
    ran = [r for r in rows if r["status"] == "ok" and r["deletionAuc"] is not None and r["family"] != "attention"]
    if not ran:
        return {"method": None, "reason": "no method produced a defined deletion AUC on this prompt"}
    trusted = [r for r in ran if r["converged"] is not False and not r["warnings"]]
    pool = trusted or ran
    best = max(pool, key=lambda r: (r["deletionAuc"], -r["seconds"]))
    parts = [f"highest deletion AUC ({best['deletionAuc']:.3f})"]
    parts.append(
        {True: "converged", None: "no convergence delta to check", False: "did NOT converge"}[best["converged"]]
    )
    parts.append(f"{best['seconds']:.1f} s")
    if not trusted:
        parts.append("no method both converged and ran without warnings")
    random = best["randomDeletionAuc"]
    if random is not None and best["deletionAuc"] <= random:
        parts.append(f"but no better than a random order ({random:.3f}): trust none of these maps")
    return {"method": best["id"], "label": best["label"], "reason": ", ".join(parts)}
