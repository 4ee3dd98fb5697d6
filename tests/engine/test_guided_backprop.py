"""Guided Backprop and Deconvolution against their definitions on a ReLU network, where the
modified backward pass can be written out by hand, and their warning on a GELU transformer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import PretrainedConfig

from linear_models import LogitsOutput
from tokenlight import attribute
from tokenlight.engine import from_objects

PROMPT = "def add(a, b):\n    return"


class TwoReluLM(torch.nn.Module):
    """embed → causal cumsum → fc1 → ReLU → fc2 → ReLU → head: the rule matters at both ReLUs."""

    def __init__(self, vocab: int, dim: int = 12, hidden: int = 24) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.embed = torch.nn.Embedding(vocab, dim)
        self.fc1, self.fc2 = torch.nn.Linear(dim, hidden), torch.nn.Linear(hidden, hidden)
        self.relu1, self.relu2 = torch.nn.ReLU(), torch.nn.ReLU()
        self.head = torch.nn.Linear(hidden, vocab)
        self.config = PretrainedConfig(n_positions=128)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embed

    def forward(self, inputs_embeds: torch.Tensor, logits_to_keep: int = 0, use_cache: bool = False) -> LogitsOutput:
        z1 = self.fc1(inputs_embeds.cumsum(dim=1))
        logits = self.head(self.relu2(self.fc2(self.relu1(z1))))
        return LogitsOutput(logits[:, -logits_to_keep:] if logits_to_keep else logits)


@pytest.fixture(scope="module")
def relu_lm(tokenizer):
    return from_objects(TwoReluLM(len(tokenizer)), tokenizer, name="two-relu")


def _by_hand(model: TwoReluLM, cumulative: torch.Tensor, target: int, rule: str) -> float:
    """The modified gradient's norm at one position, written out layer by layer."""
    z1 = model.fc1(cumulative)
    z2 = model.fc2(torch.relu(z1))
    g = model.head.weight[target]  # ∂logit/∂relu2's output
    relu = torch.nn.functional.relu
    g = relu(g * (z2 > 0)) if rule == "guided" else relu(g)
    g = model.fc2.weight.T @ g
    g = relu(g * (z1 > 0)) if rule == "guided" else relu(g)
    g = model.fc1.weight.T @ g  # the same for every position the cumsum covers
    return float(g.norm())


@pytest.mark.parametrize("method, rule", [("guided_backprop", "guided"), ("deconvolution", "deconvolution")])
def test_the_modified_relu_backward_equals_its_definition(relu_lm, method, rule):
    res = attribute(relu_lm, PROMPT, target_text=" a + b", method=method)
    model = relu_lm.model
    ids = torch.tensor([t.id for t in res.source_tokens] + [t.id for t in res.target_tokens])
    s = len(res.source_tokens)
    with torch.no_grad():
        cumulative = model.embed(ids).cumsum(0)
    for t, target in enumerate(res.target_tokens):
        expected = _by_hand(model, cumulative[s - 1 + t], target.id, rule)
        np.testing.assert_allclose(res.scores[t, : s + t], expected, rtol=1e-5)
    assert res.warnings == []  # a ReLU network: the rule holds


def test_the_two_rules_differ_from_each_other_and_from_the_gradient(relu_lm):
    guided = attribute(relu_lm, PROMPT, target_text=" a", method="guided_backprop").scores
    deconv = attribute(relu_lm, PROMPT, target_text=" a", method="deconvolution").scores
    plain = attribute(relu_lm, PROMPT, target_text=" a", method="saliency").scores
    assert not np.allclose(guided, deconv, equal_nan=True)
    assert not np.allclose(guided, plain, equal_nan=True)


@pytest.mark.parametrize("method", ["guided_backprop", "deconvolution"])
def test_on_a_gelu_transformer_the_result_says_the_rule_does_not_hold(lm, method):
    res = attribute(lm, PROMPT, target_text=" a", method=method)
    assert any("defined for ReLU networks only" in w and "GELU" in w.upper() for w in res.warnings)
    assert any("defined for ReLU networks only" in n for n in res.notes)
