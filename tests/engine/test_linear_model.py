"""A model whose logits are linear in its input embeddings: IG is known in closed form.

logit_y(p) = Σ_{q ≤ p} ⟨W_y, e_q⟩ + c_y, so ∂logit/∂e_q = W_y for every q ≤ p and
IG_q = ⟨W_y, e_q − e′_q⟩ exactly, whatever the quadrature. Input × gradient is ⟨W_y, e_q⟩ and
saliency Σ|W_y|.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from linear_models import linear_expected
from tokenlight import attribute


@pytest.mark.parametrize("n_steps", [1, 5, 32])
def test_ig_equals_w_dot_x_minus_baseline_zero(linear_lm, n_steps):
    res = attribute(linear_lm, "def add(a, b):", target_text=" return a + b", n_steps=n_steps)
    expected = linear_expected(linear_lm, res, torch.zeros(16))
    np.testing.assert_allclose(res.scores, expected, rtol=1e-5, atol=1e-5)
    assert np.isnan(res.scores).sum() == np.isnan(expected).sum()
    np.testing.assert_allclose(res.deltas, 0.0, atol=1e-4)


def test_ig_with_token_baseline(linear_lm):
    res = attribute(linear_lm, "x = 1", target_text="\n", baseline="unk", n_steps=4)
    unk = linear_lm.model.embed.weight[linear_lm.tokenizer.unk_token_id]
    np.testing.assert_allclose(res.scores, linear_expected(linear_lm, res, unk), rtol=1e-5, atol=1e-5)


def test_input_x_gradient_and_saliency_closed_form(linear_lm):
    prompt = "print(x)"
    ixg = attribute(linear_lm, prompt, target_text=" y", method="input_x_gradient")
    np.testing.assert_allclose(ixg.scores, linear_expected(linear_lm, ixg, torch.zeros(16)), rtol=1e-5, atol=1e-5)
    assert ixg.deltas is None and ixg.baseline_scores is None
    sal = attribute(linear_lm, prompt, target_text=" y", method="saliency")
    target_id = sal.target_tokens[0].id
    expected = float(linear_lm.model.head[target_id].abs().sum())
    np.testing.assert_allclose(sal.scores[0, : len(sal.source_tokens)], expected, rtol=1e-5)


def test_target_scores_are_the_logits(linear_lm):
    res = attribute(linear_lm, "a", target_text="bc", n_steps=2)
    model = linear_lm.model
    ids = torch.tensor([[t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]])
    logits = model(inputs_embeds=model.embed(ids)).logits[0]
    s = len(res.source_tokens)
    for t, target in enumerate(res.target_tokens):
        assert res.target_scores[t] == pytest.approx(float(logits[s - 1 + t, target.id]), rel=1e-5)
        assert res.baseline_scores[t] == pytest.approx(float(model.bias[target.id]), rel=1e-5)
