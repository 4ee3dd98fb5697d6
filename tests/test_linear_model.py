"""A model whose logits are linear in its input embeddings: IG is known in closed form.

logit_y(p) = Σ_{q ≤ p} ⟨W_y, e_q⟩ + c_y, so ∂logit/∂e_q = W_y for every q ≤ p and
IG_q = ⟨W_y, e_q − e′_q⟩ exactly, whatever the quadrature. Input × gradient is ⟨W_y, e_q⟩ and
saliency Σ|W_y|.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import PretrainedConfig

from tokenlight import attribute
from tokenlight.engine import from_objects


class _Out:
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits


class LinearCausalLM(torch.nn.Module):
    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.embed = torch.nn.Embedding(vocab, dim)
        self.embed.weight.data = torch.randn(vocab, dim, generator=g, dtype=torch.float64).float()
        self.head = torch.randn(vocab, dim, generator=g).float()
        self.bias = torch.randn(vocab, generator=g).float()
        self.config = PretrainedConfig(n_positions=128)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embed

    def forward(self, inputs_embeds: torch.Tensor, logits_to_keep: int = 0, use_cache: bool = False) -> _Out:
        hidden = inputs_embeds.cumsum(dim=1)  # causal: position p sees positions ≤ p
        logits = hidden @ self.head.T + self.bias
        return _Out(logits[:, -logits_to_keep:] if logits_to_keep else logits)


@pytest.fixture(scope="module")
def linear_lm(tokenizer):
    return from_objects(LinearCausalLM(len(tokenizer), 16), tokenizer, name="linear")


def _expected(linear_lm, res, baseline_vec: torch.Tensor) -> np.ndarray:
    model = linear_lm.model
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]
    emb = model.embed.weight[torch.tensor(ids)].double()
    expected = np.full(res.scores.shape, np.nan)
    s = len(res.source_tokens)
    for t, target in enumerate(res.target_tokens):
        w = model.head[target.id].double()
        expected[t, : s + t] = ((emb[: s + t] - baseline_vec.double()) @ w).numpy()
    return expected


@pytest.mark.parametrize("n_steps", [1, 5, 32])
def test_ig_equals_w_dot_x_minus_baseline_zero(linear_lm, n_steps):
    res = attribute(linear_lm, "def add(a, b):", target_text=" return a + b", n_steps=n_steps)
    expected = _expected(linear_lm, res, torch.zeros(16))
    np.testing.assert_allclose(res.scores, expected, rtol=1e-5, atol=1e-5)
    assert np.isnan(res.scores).sum() == np.isnan(expected).sum()
    np.testing.assert_allclose(res.deltas, 0.0, atol=1e-4)


def test_ig_with_token_baseline(linear_lm):
    res = attribute(linear_lm, "x = 1", target_text="\n", baseline="unk", n_steps=4)
    unk = linear_lm.model.embed.weight[linear_lm.tokenizer.unk_token_id]
    np.testing.assert_allclose(res.scores, _expected(linear_lm, res, unk), rtol=1e-5, atol=1e-5)


def test_input_x_gradient_and_saliency_closed_form(linear_lm):
    prompt = "print(x)"
    ixg = attribute(linear_lm, prompt, target_text=" y", method="input_x_gradient")
    np.testing.assert_allclose(ixg.scores, _expected(linear_lm, ixg, torch.zeros(16)), rtol=1e-5, atol=1e-5)
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
