"""Quadrature rules for the path integral of Integrated Gradients over α ∈ [0, 1].

Gauss-Legendre is the default: on the embedded model (a 4-layer GPT-2) the worst |delta| over four
targets was 5e-6 at 20 Gauss-Legendre points, where the trapezoid rule still had 1e-3 at 50
(``benchmarks/bench_quadrature.py``; figures in ``benchmarks/RESULTS.md``). The names match captum's
``method=`` values so results can be compared point for point.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .errors import InputError
from .options import INTEGRATION_RULES as RULES

# The adaptive levels of Integrated Gradients (points per level). The first two are the classical
# Gauss-Kronrod pair: 7 Gauss-Legendre points (exact to degree 13), then the 15 Kronrod points that
# contain them (exact to degree 23), so the second level costs 8 new points. On IG's smooth
# integrands a Gauss rule needs fewer points than Clenshaw-Curtis for the same error: at GPT-2-small
# geometry with 12 targets (benchmarks/bench_adaptive_rule.py) these levels took 100 gradient
# evaluations where Clenshaw-Curtis 5, 9, 17 took 132 (1.26× faster). A target still above its
# tolerance after 15 continues on nested Clenshaw-Curtis levels from 33 (level k+1 = level k's
# points + the midpoints in angle between them), so every gradient already computed is reused from
# there on; the middle point α = ½ is common to both families and reused too.
ADAPTIVE_LEVELS = (7, 15, 33, 65, 129, 257)
# the levels before (nested Clenshaw-Curtis from 5 points), kept for benchmarks/bench_adaptive_rule.py
CLENSHAW_CURTIS_LEVELS = (5, 9, 17, 33, 65, 129, 257)

# Gauss-Kronrod 7/15 on [−1, 1]: the non-negative Kronrod nodes, descending (the odd-indexed ones are
# the Gauss-Legendre nodes), their Kronrod weights, and the Gauss weights of the odd-indexed nodes.
# The classical constants; tests/engine/test_integrated_gradients.py rederives the weights from the
# nodes and checks both rules' exactness, so a wrong digit cannot pass unnoticed.
_KRONROD_15_NODES = (
    0.991455371120812639206854697526329,
    0.949107912342758524526189684047851,
    0.864864423359769072789712788640926,
    0.741531185599394439863864773280788,
    0.586087235467691130294144845693013,
    0.405845151377397166906606412076961,
    0.207784955007898467600689403773245,
    0.0,
)
_KRONROD_15_WEIGHTS = (
    0.022935322010529224963732008058970,
    0.063092092629978553290700663189204,
    0.104790010322250183839876322541518,
    0.140653259715525918745189590510238,
    0.169004726639267902826583426598550,
    0.190350578064785409913256402421014,
    0.204432940075298892414161999234649,
    0.209482141084727828012999174891714,
)
_GAUSS_7_WEIGHTS = (
    0.129484966168869693270611432679082,
    0.279705391489276667901467771423780,
    0.381830050505118944950369775488975,
    0.417959183673469387755102040816327,
)


def gauss_kronrod(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The Gauss (7) or Kronrod (15) rule of the 7/15 pair, on [0, 1], ascending (float64)."""
    half = np.asarray(_KRONROD_15_NODES)
    if n_points == 15:
        nodes, weights = half, np.asarray(_KRONROD_15_WEIGHTS)
    elif n_points == 7:
        nodes, weights = half[1::2], np.asarray(_GAUSS_7_WEIGHTS)
    else:
        raise InputError("the Gauss-Kronrod pair has 7 and 15 points")
    x = np.concatenate([-nodes[:-1], nodes[::-1]])  # ascending, 0 once
    w = np.concatenate([weights[:-1], weights[::-1]])
    return (x + 1.0) / 2.0, w / 2.0


def adaptive_rule(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The points and weights of one of the :data:`ADAPTIVE_LEVELS` (or :data:`CLENSHAW_CURTIS_LEVELS`)."""
    if n_points in (7, 15):
        return gauss_kronrod(n_points)
    return clenshaw_curtis(n_points)


def clenshaw_curtis(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Clenshaw-Curtis points and weights on [0, 1] (float64, ``n_points`` = 2^k + 1 for nesting).

    Points α_j = (1 − cos(πj/n))/2, j = 0..n, so the points of n/2 are the even-indexed points of n.
    Exact for polynomials of degree n; for the smooth integrands of IG about as accurate as
    Gauss-Legendre with the same number of points (Trefethen 2008), and unlike Gauss-Legendre nested.
    """
    if n_points < 2:
        raise InputError("Clenshaw-Curtis needs at least 2 points")
    n = n_points - 1
    j = np.arange(n_points)
    k = np.arange(1, n // 2 + 1)
    b = np.where(k == n / 2, 1.0, 2.0)
    series = (b / (4 * k * k - 1))[None, :] * np.cos(2 * np.pi * np.outer(j, k) / n)
    c = np.where((j == 0) | (j == n), 1.0, 2.0)
    weights = c / n * (1 - series.sum(axis=1))
    return (1 - np.cos(np.pi * j / n)) / 2, weights / 2


# numpy's leggauss solves an n×n eigenproblem: O(n³), 16–20 s at n = 4096 on a 2-core CPU (two runs of
# benchmarks/bench_quadrature.py; longer than the attribution itself, and not cancellable). Above
# this size we use Newton's method instead.
_NUMPY_GAUSS_LEGENDRE_MAX = 100


@lru_cache(maxsize=16)
def gauss_legendre(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [−1, 1], ascending, float64.

    Up to 100 points: numpy's ``leggauss``. Beyond: Newton iterations on Pₙ from the asymptotic
    initial guess xₖ ≈ cos(π(4k − 1)/(4n + 2)), Pₙ and Pₙ′ by the three-term recurrence over all
    nodes at once: O(n²) work, 0.1–0.2 s at 4096 points in ``benchmarks/bench_quadrature.py``, nodes
    within 1.1e-16 of the eigenvalue method's. Cached: a daemon sees the same n again and again.
    """
    if n_points <= _NUMPY_GAUSS_LEGENDRE_MAX:
        nodes, weights = np.polynomial.legendre.leggauss(n_points)
        return nodes, weights
    n = n_points
    half = (n + 1) // 2  # the nodes are symmetric about 0: solve for the positive half only
    k = np.arange(1, half + 1, dtype=np.float64)
    x = (1 - (n - 1) / (8 * n**3)) * np.cos(np.pi * (4 * k - 1) / (4 * n + 2))
    for _ in range(50):
        p, derivative = _legendre(n, x)
        step = p / derivative
        x = x - step
        if np.max(np.abs(step)) < 1e-15:
            break
    _, derivative = _legendre(n, x)
    w = 2 / ((1 - x * x) * derivative * derivative)
    if n % 2:  # the middle node is exactly 0
        x[-1] = 0.0
    nodes = np.concatenate([-x, x[::-1][n % 2 :]])
    weights = np.concatenate([w, w[::-1][n % 2 :]])
    return nodes, weights


def _legendre(n: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pₙ(x) and Pₙ′(x) by the three-term recurrence (for |x| < 1)."""
    p_prev, p = np.ones_like(x), x.copy()
    for j in range(2, n + 1):
        p_prev, p = p, ((2 * j - 1) * x * p - (j - 1) * p_prev) / j
    return p, n * (x * p - p_prev) / (x * x - 1)


def quadrature(rule: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points α and weights w (float64, each of length ``n_steps``) with Σ w·g(α) ≈ ∫₀¹ g.
    ``auto`` with a fixed ``n_steps`` is Gauss-Legendre."""
    if rule in ("gausslegendre", "auto"):
        nodes, weights = gauss_legendre(n_steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if rule == "riemann_trapezoid":
        if n_steps < 2:
            raise InputError("the trapezoid rule needs n_steps >= 2")
        alphas = np.linspace(0.0, 1.0, n_steps)
        weights = np.full(n_steps, 1.0 / (n_steps - 1))
        weights[[0, -1]] /= 2.0
        return alphas, weights
    step = 1.0 / n_steps
    offsets = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    if rule not in offsets:
        raise InputError(f"unknown integration rule {rule!r}; choose one of: {', '.join(RULES)}")
    return (np.arange(n_steps) + offsets[rule]) * step, np.full(n_steps, step)
