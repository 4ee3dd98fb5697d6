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

# The adaptive levels of Integrated Gradients (points per level): the Gauss-Kronrod-Patterson
# sequence, each level the one before plus the nodes between them, so no gradient is ever thrown away.
# 7 Gauss-Legendre points (exact to degree 13), the 15 Kronrod points that contain them (degree 23),
# Patterson's 31 (degree 47) and 63 (degree 95). On IG's smooth integrands a Gauss-type rule needs
# fewer points than Clenshaw-Curtis for the same error: at GPT-2-small geometry with 12 targets
# (benchmarks/bench_adaptive_rule.py) 7/15 took 100 gradient evaluations where Clenshaw-Curtis 5, 9,
# 17 took 132. Deep models need the third level: at a 24-layer Llama geometry every target missed
# 1e-3 at 15 points and met it at 31, where the nested Clenshaw-Curtis 33 that came after 15 before
# shared only α = ½ with them (47 evaluations per target instead of 31). A target still above its
# tolerance after 63 continues on Clenshaw-Curtis 129, 257 (sharing α = ½ only; rare).
PATTERSON_LEVELS = (7, 15, 31, 63)
ADAPTIVE_LEVELS = (*PATTERSON_LEVELS, 129, 257)
# earlier level sequences, kept for benchmarks/bench_adaptive_rule.py: 7/15 then Clenshaw-Curtis
# from 33, and nested Clenshaw-Curtis from 5 points
KRONROD_CLENSHAW_CURTIS_LEVELS = (7, 15, 33, 65, 129, 257)
CLENSHAW_CURTIS_LEVELS = (5, 9, 17, 33, 65, 129, 257)

# The non-negative nodes of Patterson's 63-point rule on [−1, 1], descending (computed in 250-digit
# arithmetic as the successive extensions of Gauss-Legendre 7; the classical constants). Level n's
# nodes are every (64 / (n + 1))-th of them, ending at 0: the odd-indexed ones are the 31-point
# rule's, every fourth the 15-point (Kronrod) rule's, every eighth the 7 Gauss points. The weights
# follow from the nodes (the interpolatory rule), so only the nodes are constants;
# tests/engine/test_integrated_gradients.py checks each level's exactness degree, which holds only
# for the right nodes.
_PATTERSON_63_NODES = (
    0.99980921419804351768385318380181,
    0.998687109678466729790660660569463,
    0.99604023862596854306892941681438,
    0.991455371120812639206854697526329,
    0.984637143875644179797308158697301,
    0.975383588208893369675287074951628,
    0.963564953613396169948875982747928,
    0.949107912342758524526189684047851,
    0.931984657380665140627131096209738,
    0.912204882783262878350584611171538,
    0.889809364874942640040706031974947,
    0.864864423359769072789712788640926,
    0.837456832560144586521412458847055,
    0.80768893917243750908807557591203,
    0.775673908358334814097856547302901,
    0.741531185599394439863864773280788,
    0.705382409374850309141845887609357,
    0.667348098104300175431382116612425,
    0.627545421382293261363880410874788,
    0.58608723546769113029414483825873,
    0.543082350986701131146601933622507,
    0.498636786552832004293429260084633,
    0.452855632849607231381999359735536,
    0.405845151377397166906606412076961,
    0.357714831586033270409031511090624,
    0.308579247910587778899587521987072,
    0.258559618754472473546151272260968,
    0.207784955007898467600689403773245,
    0.156392640336081401531118588925022,
    0.104528273810780713400625068279575,
    0.0523446654598305066630822639182848,
    0.0,
)


@lru_cache(maxsize=8)
def patterson(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Level ``n_points`` (7, 15, 31 or 63) of the Gauss-Kronrod-Patterson sequence on [0, 1],
    ascending (float64). Weights: the unique ones that integrate the Legendre polynomials P_0 ...
    P_{n−1} exactly at these nodes (a well-conditioned system: within 6e-16 of the 250-digit ones)."""
    if n_points not in PATTERSON_LEVELS:
        raise InputError(f"the Gauss-Kronrod-Patterson levels have {', '.join(map(str, PATTERSON_LEVELS))} points")
    step = (2 * len(_PATTERSON_63_NODES)) // (n_points + 1)  # 64 // (n + 1)
    half = np.asarray(_PATTERSON_63_NODES)[step - 1 :: step]
    x = np.concatenate([-half[:-1], half[::-1]])  # ascending, 0 once
    basis = np.polynomial.legendre.legvander(x, n_points - 1).T
    weights = np.linalg.solve(basis, np.eye(n_points)[0] * 2.0)
    return (x + 1.0) / 2.0, weights / 2.0


def adaptive_rule(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The points and weights of one level of :data:`ADAPTIVE_LEVELS` (or of the earlier sequences)."""
    if n_points in PATTERSON_LEVELS:
        return patterson(n_points)
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
