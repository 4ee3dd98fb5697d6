"""Greedy PIG against its definition: rounds of captum IG, written out here, each from a baseline
that holds the tokens chosen so far at the input."""

from __future__ import annotations

import math

import numpy as np
import torch
from captum.attr import IntegratedGradients

from tokenlight import attribute

PROMPT = "def add(a, b):\n    return"


def test_greedy_pig_equals_rounds_of_captum_ig(tiny_gpt2):
    n_steps, fraction = 8, 0.3
    res = attribute(tiny_gpt2, PROMPT, target_text=" a +", method="greedy_pig", n_steps=n_steps, fraction=fraction)
    model = tiny_gpt2.model
    emb = model.get_input_embeddings()
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]
    s = len(res.source_tokens)
    for t, target in enumerate(res.target_tokens):
        x = emb(torch.tensor([ids[: s + t]])).detach()
        baseline = torch.zeros_like(x)
        chosen: dict[int, float] = {}
        per_round = max(1, math.ceil(fraction * (s + t)))

        def forward(e: torch.Tensor, _tid: int = target.id) -> torch.Tensor:
            return model(inputs_embeds=e).logits[:, -1, _tid]

        while len(chosen) < s + t:
            fixed = torch.tensor([i in chosen for i in range(s + t)]).view(1, -1, 1)
            base = torch.where(fixed, x, baseline)
            ig = IntegratedGradients(forward).attribute(x, baselines=base, n_steps=n_steps, method="gausslegendre")
            ig = ig.sum(-1)[0]
            order = sorted((i for i in range(s + t) if i not in chosen), key=lambda i: -abs(float(ig[i])))
            for i in order[:per_round]:
                chosen[i] = float(ig[i])
        expected = np.array([chosen[i] for i in range(s + t)])
        np.testing.assert_allclose(res.scores[t, : s + t], expected, atol=1e-4 * np.abs(expected).max(), rtol=0)
    assert res.deltas is None


def test_on_a_linear_model_greedy_pig_is_integrated_gradients(linear_lm):
    """No interactions, nothing to offset: every round gives each token its IG score."""
    pig = attribute(linear_lm, PROMPT, target_text=" a + b", method="greedy_pig", baseline="zero", n_steps=4)
    ig = attribute(linear_lm, PROMPT, target_text=" a + b", method="integrated_gradients", n_steps=4)
    np.testing.assert_allclose(pig.scores, ig.scores, rtol=1e-5, atol=1e-5, equal_nan=True)
