"""Faithfulness of one attribution, measured on its own prompt: deletion and insertion curves,
ERASER's comprehensiveness and sufficiency, and the same figures for random orders.

Defined exactly, so that anyone can recompute them (README "Faithfulness" says the same):

* For each target, the S′ non-special source units (tokens, or words with ``aggregate=word``) are
  ordered by their attribution to that target, largest first (ties: earlier position first).
* At each fraction f in 0, 0.1, …, 1.0 the first k = ⌊f·S′ + ½⌋ units are removed: their input
  embeddings are replaced by the baseline's, positions kept. Special tokens and earlier targets are
  never removed. The step function of the result, v(f), is the **deletion** curve; the
  **insertion** curve u(f) starts from all S′ removed and restores the first k.
* Areas by the trapezoid rule over f. Normalised scores (1 ideal; a straight line ≈ 0.5):
  deletion (v(0) − area) / (v(0) − v(1)), insertion (area − u(0)) / (u(1) − u(0)). When
  |v(0) − v(1)| is under 1% of |v(0)| they are undefined (None, with the reason), never a division by
  almost nothing. Curves that are not monotone can score outside [0, 1]; the number is not clipped.
* Comprehensiveness at q (5%, 10%, 20%): v(0) − the value with the top ⌊q·S′ + ½⌋ removed;
  sufficiency: v(0) − the value with only those kept (DeYoung et al. 2020, on the step function).
* ``random_orders`` seeded random orders per target (keyed by the seed and the target's position,
  so a target's numbers do not depend on which other targets were asked) give the same figures as
  mean and standard deviation: "better than random" is visible.
* The summed-over-targets figures are those of the curves summed over the targets.

Every perturbed input of every target and order is deduplicated (v(0), v(1), u(0) and u(1) are the
same two inputs for every order) and goes through the model in chunks, one forward per chunk.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from .kernel import Hooks, TargetFn, in_chunks
from .seeding import ORDER_STREAM, keyed_seed

FRACTIONS = tuple(Fraction(i, 10) for i in range(11))
ERASER_FRACTIONS = (Fraction(1, 20), Fraction(1, 10), Fraction(1, 5))
UNDEFINED_SHARE = 0.01  # |v(0) − v(1)| below this share of |v(0)|: the normalised scores are undefined


def removal_count(fraction: Fraction, n_units: int) -> int:
    """k = ⌊f·S′ + ½⌋: round half up, computed exactly (``round()`` would round half to even)."""
    return math.floor(fraction * n_units + Fraction(1, 2))


def fraction_key(fraction: Fraction) -> str:
    """``"0.05"``, ``"0.1"``, ``"0.2"``: how the JSON keys comprehensiveness and sufficiency."""
    return f"{float(fraction):g}"


def attribution_order(scores: np.ndarray, units: Sequence[Sequence[int]]) -> list[int]:
    """Unit indices by attribution, largest first; ties (and NaN, last) by position."""
    values = np.asarray([float(scores[i]) for i in range(len(units))], dtype=np.float64)
    values = np.where(np.isnan(values), -np.inf, values)
    return [int(i) for i in np.argsort(-values, kind="stable")]


def trapezoid(values: Sequence[float], fractions: Sequence[Fraction] = FRACTIONS) -> float:
    xs = [float(f) for f in fractions]
    return float(sum((xs[i + 1] - xs[i]) * (values[i] + values[i + 1]) / 2.0 for i in range(len(xs) - 1)))


def curve_scores(deletion: Sequence[float], insertion: Sequence[float]) -> dict[str, Any]:
    """Raw areas and normalised AUCs of one deletion and one insertion curve (see the module doc)."""
    v0, v1 = deletion[0], deletion[-1]
    u0, u1 = insertion[0], insertion[-1]
    d_area, i_area = trapezoid(deletion), trapezoid(insertion)
    undefined = None
    if abs(v0 - v1) < UNDEFINED_SHARE * abs(v0) or v0 == v1:
        undefined = (
            f"removing every source token changes this value by {abs(v0 - v1):.3g}, under "
            f"{UNDEFINED_SHARE:.0%} of |v(0)| = {abs(v0):.3g}: no order can be scored against that"
        )
    return {
        "deletionArea": d_area,
        "insertionArea": i_area,
        "deletionAuc": None if undefined else (v0 - d_area) / (v0 - v1),
        "insertionAuc": None if undefined or u1 == u0 else (i_area - u0) / (u1 - u0),
        "undefined": undefined,
    }


class _RemovedSets:
    """Distinct sets of removed positions, each evaluated once."""

    def __init__(self) -> None:
        self.index: dict[tuple[int, ...], int] = {}

    def ask(self, positions: Sequence[int]) -> int:
        key = tuple(sorted(positions))
        return self.index.setdefault(key, len(self.index))

    def evaluate(
        self, target_fn: TargetFn, inputs: torch.Tensor, baselines: torch.Tensor, chunk_size: int, hooks: Hooks
    ) -> np.ndarray:
        """``[n_sets, T]`` float64: every target's value on each set's perturbed input."""
        keys = list(self.index)
        length = inputs.shape[0]

        def run(start: int, stop: int) -> torch.Tensor:
            hooks.check()
            mask = torch.zeros(stop - start, length, dtype=torch.bool, device=inputs.device)
            for row, key in enumerate(keys[start:stop]):
                if key:
                    mask[row, list(key)] = True
            batch = torch.where(mask.unsqueeze(-1), baselines.unsqueeze(0), inputs.unsqueeze(0))
            with torch.no_grad():
                values = torch.stack(target_fn(batch), dim=1).to(torch.float64)
            hooks.report(stop, len(keys), f"faithfulness: {stop} of {len(keys)} perturbed inputs")
            return values.cpu()

        return torch.cat(in_chunks(len(keys), chunk_size, run, inputs.device)).numpy()


class _Curves:
    """The set indices behind one order's curves and ERASER figures, read back after evaluation."""

    def __init__(self, sets: _RemovedSets, order: list[int], units: Sequence[Sequence[int]]) -> None:
        n = len(order)

        def removed(ranked: Sequence[int]) -> list[int]:
            return [p for u in ranked for p in units[u]]

        self.deletion = [sets.ask(removed(order[: removal_count(f, n)])) for f in FRACTIONS]
        self.insertion = [sets.ask(removed(order[removal_count(f, n) :])) for f in FRACTIONS]
        self.without_top = [sets.ask(removed(order[: removal_count(q, n)])) for q in ERASER_FRACTIONS]
        self.only_top = [sets.ask(removed(order[removal_count(q, n) :])) for q in ERASER_FRACTIONS]
        self.full = sets.ask([])

    def figures(self, values: np.ndarray) -> dict[str, Any]:
        """This order's numbers for one target's column of values (or the targets' sum)."""
        deletion = [float(values[i]) for i in self.deletion]
        insertion = [float(values[i]) for i in self.insertion]
        full = float(values[self.full])
        return {
            "deletion": deletion,
            "insertion": insertion,
            **curve_scores(deletion, insertion),
            "comprehensiveness": {
                fraction_key(q): full - float(values[i])
                for q, i in zip(ERASER_FRACTIONS, self.without_top, strict=True)
            },
            "sufficiency": {
                fraction_key(q): full - float(values[i]) for q, i in zip(ERASER_FRACTIONS, self.only_top, strict=True)
            },
        }


def evaluate_faithfulness(
    target_fn: TargetFn,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    scores: np.ndarray,
    units: Sequence[Sequence[int]],
    *,
    target_positions: Sequence[int],
    random_orders: int,
    seed: int,
    chunk_size: int,
    hooks: Hooks | None = None,
) -> dict[str, Any]:
    """The ``faithfulness`` object of one attribution (JSON-ready: lists, floats, None).

    Args:
        target_fn: embeddings ``[n, L, d]`` -> the T target values, each ``[n]``.
        inputs, baselines: ``[L, d]``.
        scores: ``[T, U]`` each target's attribution to the U source units.
        units: for each source unit, the input positions it covers; only the non-special units.
            Units not listed (special tokens) are never removed.
        target_positions: each target's absolute position (keys its random orders).
        random_orders: R, the random orders per target.
        seed: the request's seed.
        chunk_size: perturbed inputs per forward.
    """
    started = time.perf_counter()
    hooks = hooks or Hooks()
    n_targets = scores.shape[0]
    sets = _RemovedSets()
    plans: list[tuple[_Curves, list[_Curves]]] = []
    for t in range(n_targets):
        row = np.asarray(scores[t], dtype=np.float64)
        order = attribution_order(row, units)
        rng = np.random.default_rng(keyed_seed(seed, ORDER_STREAM, int(target_positions[t])))
        randoms = [_Curves(sets, [int(u) for u in rng.permutation(len(units))], units) for _ in range(random_orders)]
        plans.append((_Curves(sets, order, units), randoms))
    values = sets.evaluate(target_fn, inputs, baselines, chunk_size, hooks)  # [n_sets, T]

    targets = []
    for t, (curves, randoms) in enumerate(plans):
        figures = curves.figures(values[:, t])
        figures["random"] = _spread([r.figures(values[:, t]) for r in randoms])
        targets.append({"target": t, **figures})
    total: dict[str, Any] = {}
    if plans:
        # the targets' orders differ: the summed curve is the sum of each target's own curve
        total = _summed([p[0].figures(values[:, t]) for t, p in enumerate(plans)])
        total["random"] = _spread(
            [_summed([plans[t][1][r].figures(values[:, t]) for t in range(n_targets)]) for r in range(random_orders)]
        )
    if not units:  # the same verdict as below, in the words that apply
        for figures in [*targets, total]:
            if figures:
                figures["undefined"] = "the prompt has no non-special source tokens to remove"
    return {
        "fractions": [float(f) for f in FRACTIONS],
        "eraserFractions": [float(q) for q in ERASER_FRACTIONS],
        "units": len(units),
        "randomOrders": random_orders,
        "seed": seed,
        "targets": targets,
        "total": total,
        "mean": _means(targets),
        "evaluations": len(sets.index),
        "elapsedMs": (time.perf_counter() - started) * 1000.0,
    }


def _summed(per_target: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures of the curves summed over targets (AUCs recomputed from the sums)."""
    deletion = [float(sum(f["deletion"][i] for f in per_target)) for i in range(len(FRACTIONS))]
    insertion = [float(sum(f["insertion"][i] for f in per_target)) for i in range(len(FRACTIONS))]
    keys = [fraction_key(q) for q in ERASER_FRACTIONS]
    return {
        "deletion": deletion,
        "insertion": insertion,
        **curve_scores(deletion, insertion),
        "comprehensiveness": {k: float(sum(f["comprehensiveness"][k] for f in per_target)) for k in keys},
        "sufficiency": {k: float(sum(f["sufficiency"][k] for f in per_target)) for k in keys},
    }


SPREAD_FIGURES = ("deletionAuc", "insertionAuc", "deletionArea", "insertionArea")


def _spread(orders: list[dict[str, Any]]) -> dict[str, Any]:
    """``{mean, std}`` over the random orders (population std); None where no order is defined."""
    out: dict[str, Any] = {"orders": len(orders)}
    for name in SPREAD_FIGURES:
        out[name] = _mean_std([o[name] for o in orders])
    for name in ("comprehensiveness", "sufficiency"):
        out[name] = {fraction_key(q): _mean_std([o[name][fraction_key(q)] for o in orders]) for q in ERASER_FRACTIONS}
    return out


def _mean_std(values: list[float | None]) -> dict[str, float] | None:
    defined = [v for v in values if v is not None]
    if not defined:
        return None
    return {"mean": float(np.mean(defined)), "std": float(np.std(defined))}


def _means(targets: list[dict[str, Any]]) -> dict[str, float | None]:
    """Each AUC averaged over the targets where it is defined (the compare table's one number)."""

    def mean(get: Callable[[dict[str, Any]], float | None]) -> float | None:
        defined = [v for v in (get(t) for t in targets) if v is not None]
        return float(np.mean(defined)) if defined else None

    def random_mean(name: str) -> Callable[[dict[str, Any]], float | None]:
        return lambda t: None if t["random"][name] is None else t["random"][name]["mean"]

    return {
        "deletionAuc": mean(lambda t: t["deletionAuc"]),
        "insertionAuc": mean(lambda t: t["insertionAuc"]),
        "randomDeletionAuc": mean(random_mean("deletionAuc")),
        "randomInsertionAuc": mean(random_mean("insertionAuc")),
        "definedTargets": sum(1 for t in targets if t["deletionAuc"] is not None),
    }
