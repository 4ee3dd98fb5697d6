"""The relaxed LASSO of context_ablation: the refit is least squares on the support where the
samples determine it, and the LASSO's own solution (checked by its optimality conditions) where
they do not."""

from __future__ import annotations

import pytest
import torch

from tokenlight import attribute
from tokenlight.engine.lasso import lasso


def _data(n: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, k, generator=g) < 0.5).double()
    w = torch.zeros(k, dtype=torch.float64)
    w[:3] = torch.tensor([2.0, -1.5, 1.0], dtype=torch.float64)
    return x, x @ w + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)


def test_a_determined_support_is_refitted_by_least_squares():
    x, y = _data(64, 10, 0)
    coef, intercept = lasso(x, y, alpha=0.05)
    support = coef != 0
    assert 0 < int(support.sum()) < 63
    xc, yc = x - x.mean(dim=0), y - y.mean()
    expected = torch.linalg.lstsq(xc[:, support], yc.unsqueeze(1)).solution[:, 0]
    torch.testing.assert_close(coef[support], expected, rtol=1e-8, atol=1e-8)
    assert float(intercept) == pytest.approx(float(y.mean() - x.mean(dim=0) @ coef), abs=1e-9)


def test_an_underdetermined_support_keeps_the_lasso_solution_and_moves_smoothly():
    x, y = _data(8, 30, 2)  # 30 spans, 8 masks: this penalty keeps 11 of them
    alpha = 0.01
    coef, _ = lasso(x, y, alpha=alpha)
    assert int((coef != 0).sum()) >= 7
    # the LASSO's optimality (KKT) conditions on centred data: |X_jᵀ r| / n ≤ λ everywhere, = λ on the support
    xc, yc = x - x.mean(dim=0), y - y.mean()
    penalty = alpha * float(yc.pow(2).sum() / (len(y) - 1)) ** 0.5
    correlation = xc.T @ (yc - xc @ coef) / len(y)
    assert float(correlation.abs().max()) <= penalty * 1.001
    on = coef != 0
    torch.testing.assert_close(correlation[on], penalty * torch.sign(coef[on]), rtol=1e-3, atol=penalty * 1e-3)
    # a change in the last bits of y moves the scores by about as much, not by a jump to another refit
    nudged, _ = lasso(x, y + 1e-9 * torch.linspace(-1, 1, len(y), dtype=torch.float64), alpha=alpha)
    assert float((nudged - coef).abs().max()) <= 1e-4 * float(coef.abs().max())


def test_context_ablation_says_when_its_masks_cannot_determine_the_refit(linear_lm):
    """A model additive over 25 line spans, 8 masks: the fit keeps more spans than 8 masks determine."""
    text = "".join(f"v{i} = {i}\n" for i in range(24))
    few = attribute(linear_lm, text, method="context_ablation", granularity="line", target_text=" v", n_samples=8)
    assert int((few.span_scores[0] != 0).sum()) >= 7
    assert any("not refitted by least squares" in n for n in few.notes)
    enough = attribute(linear_lm, text, method="context_ablation", granularity="line", target_text=" v", n_samples=64)
    assert not any("not refitted" in n for n in enough.notes)
