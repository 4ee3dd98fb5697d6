"""Gauss-Legendre rules at any size: the nodes numpy gives, and exact for polynomials of degree 2n − 1."""

from __future__ import annotations

import numpy as np
import pytest

from tokenlight.engine.quadrature import gauss_legendre, quadrature


@pytest.mark.parametrize("n", [1, 2, 50, 100, 101, 256, 1025])
def test_nodes_are_numpys_and_weights_sum_to_the_interval(n):
    nodes, weights = gauss_legendre(n)
    reference, _ = np.polynomial.legendre.leggauss(n)
    np.testing.assert_allclose(nodes, reference, rtol=0, atol=1e-14)
    assert weights.sum() == pytest.approx(2.0, abs=1e-13)
    assert np.all(np.diff(nodes) > 0) and np.all(weights > 0)


@pytest.mark.parametrize("n", [101, 256, 1025, 4096])
def test_exact_for_polynomials_up_to_degree_2n_minus_1(n):
    """∫₋₁¹ xᵏ = 2/(k+1) for even k, 0 for odd: the defining property of an n-point Gauss rule."""
    nodes, weights = gauss_legendre(n)
    for k in (0, 1, 2, 7, 100, 2 * n - 2, 2 * n - 1):
        exact = 2.0 / (k + 1) if k % 2 == 0 else 0.0
        assert float(weights @ nodes**k) == pytest.approx(exact, rel=1e-11, abs=1e-14), k


def test_the_largest_allowed_rule_on_the_unit_interval():
    alphas, weights = quadrature("gausslegendre", 4096)
    assert alphas.shape == weights.shape == (4096,)
    assert alphas.min() > 0 and alphas.max() < 1
    assert float(weights @ np.cos(10 * alphas)) == pytest.approx(np.sin(10) / 10, rel=1e-12)
