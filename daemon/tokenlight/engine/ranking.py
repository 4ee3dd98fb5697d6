"""Rank agreement between two attributions of the same tokens: Spearman's ρ and Kendall's τ-b.

Written here rather than taken from scipy, which Tokenlight does not otherwise need: both are a few
lines of numpy over at most a few thousand tokens. Ties get average ranks (Spearman) and the τ-b
correction (Kendall), as scipy's ``spearmanr`` and ``kendalltau`` do; a constant vector has no
ranking, so its correlation is None (scipy answers NaN), never a made-up 0.
"""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, ties sharing the mean of the ranks they span."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        stop = start + 1
        while stop < len(values) and sorted_values[stop] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop]] = (start + stop + 1) / 2.0  # mean of ranks start+1 .. stop
        start = stop
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's ρ: the Pearson correlation of the average ranks; None when either side is constant."""
    a, b = _pair(a, b)
    if len(a) < 2:
        return None
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    if denominator == 0.0:
        return None
    return float((ra * rb).sum() / denominator)


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float | None:
    """Kendall's τ-b over all pairs (ties corrected); None when either side is constant."""
    a, b = _pair(a, b)
    if len(a) < 2:
        return None
    upper = np.triu_indices(len(a), k=1)
    da = np.sign(a[:, None] - a[None, :])[upper]
    db = np.sign(b[:, None] - b[None, :])[upper]
    n_a, n_b = float(np.count_nonzero(da)), float(np.count_nonzero(db))
    if n_a == 0.0 or n_b == 0.0:
        return None
    return float((da * db).sum() / np.sqrt(n_a * n_b))


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"rank agreement needs two vectors of one length (got {a.shape} and {b.shape})")
    return a, b


def mean_or_none(values: list[float | None]) -> float | None:
    """The mean of the defined values, or None when none is defined."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None
