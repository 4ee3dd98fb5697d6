"""Guided IG and Discretized IG pinned to their papers on problems small enough to solve by hand.

Each expected value below is worked out in the comments, independently of the code; a straight line
(IG's path) gives different numbers, so these fail if either method quietly degenerates into IG.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokenlight import InputError
from tokenlight.engine.methods import AttributionProblem, get_method
from tokenlight.engine.methods.discretized_integrated_gradients import monotonic_path


def _bilinear(emb: torch.Tensor) -> list[torch.Tensor]:
    """f(a, b) = a·b + 0.1·a for two one-dimensional tokens a, b: ∂f/∂a = b + 0.1, ∂f/∂b = a."""
    a, b = emb[:, 0, 0], emb[:, 1, 0]
    return [a * b + 0.1 * a]


def _guided(**options) -> np.ndarray:
    ones = torch.ones(2, 1)
    problem = AttributionProblem(
        target_fn=_bilinear,
        inputs=ones,
        baselines=torch.zeros(2, 1),
        n_targets=1,
        target_scores=torch.tensor([1.1], dtype=torch.float64),
        baseline_scores=torch.zeros(1, dtype=torch.float64),
        chunk_size=lambda n: n,
        options={"n_steps": 100, **options},
    )
    out = get_method("guided_integrated_gradients").attribute(problem)
    assert abs(float(out.deltas[0])) < 1e-6  # the trapezoid is exact on each straight piece of a bilinear f (float32 f)
    return out.scores[0].numpy()


def _bounded(d: float) -> list[float]:
    """Hand-computed Guided IG scores of (a, b) for f = a·b + 0.1·a from (0, 0) to (1, 1), band d ≤ 0.5.

    b always has the smaller gradient (a < b + 0.1), so b moves first: it runs ahead at α + d while a
    lags at α − d (first b alone up to 2d, at the end a alone from 1 − 2d). So a scores
    ∫₀^{1−2d} (a + 2d + 0.1) da + 1.1·2d and b scores ∫_{2d}^1 (b − 2d) db.
    """
    a = (1 - 2 * d) ** 2 / 2 + (2 * d + 0.1) * (1 - 2 * d) + 2.2 * d
    return [a, (1 - 2 * d) ** 2 / 2]


# Unbounded: b goes all the way while ∂f/∂b = a = 0, then a moves with ∂f/∂a = 1.1: (1.1, 0).
# max_dist 0 is IG's straight line: (∫(α + 0.1) dα, ∫α dα) = (0.6, 0.5) = _bounded(0).
@pytest.mark.parametrize(
    ("max_dist", "expected"),
    [(1.0, [1.1, 0.0]), (0.25, _bounded(0.25)), (0.0, [0.6, 0.5])],
    ids=["unbounded", "bounded", "max_dist 0 is IG"],
)
def test_guided_ig_follows_the_low_gradient_feature_first_within_its_band(max_dist, expected):
    np.testing.assert_allclose(_guided(max_dist=max_dist, fraction=0.25), expected, atol=1e-3)


def test_guided_ig_default_is_bounded_and_bad_bounds_are_refused():
    np.testing.assert_allclose(_guided(), _bounded(0.02), atol=1e-3)  # default: max_dist 0.02, fraction 0.25
    with pytest.raises(InputError, match="max_dist"):
        _guided(max_dist=1.5)
    with pytest.raises(InputError, match="fraction"):
        _guided(fraction=0.0)


# Discretized IG on a hand-made table (3-d vectors) with a hand-made neighbour graph:
#   0 = input (4, 4, 4), 1 = A (3, 3, 9), 2 = B (3, 4.1, 4.1), 3 = C (1, 1, 1); baseline 0.
# Step 1 from the input (neighbours A, B; with 2 steps a dimension out of range goes half way to 0,
# i.e. to 2): maxcount takes A (2 dimensions within [0, 4] against B's 1); greedy takes B, whose
# monotonized version (3, 2, 2) is 2.97 away against A's (3, 3, 2), 7 away. Monotonized: B -> (3, 2, 2),
# A -> (3, 3, 2). Step 2: the only unvisited neighbour is C, within range everywhere: (1, 1, 1).
TABLE = torch.tensor([[4.0, 4.0, 4.0], [3.0, 3.0, 9.0], [3.0, 4.1, 4.1], [1.0, 1.0, 1.0]])
GRAPH = np.array([[1, 2], [0, 3], [0, 3], [1, 2]], dtype=np.int32)


@pytest.mark.parametrize(
    ("strategy", "anchor"),
    [("greedy", [3.0, 2.0, 2.0]), ("maxcount", [3.0, 3.0, 2.0])],
)
def test_dig_anchors_are_the_hand_computed_ones(strategy, anchor):
    path = monotonic_path(0, torch.zeros(3, dtype=torch.float64), TABLE, GRAPH, 2, strategy)
    expected = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], anchor, [4.0, 4.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(path, expected)
