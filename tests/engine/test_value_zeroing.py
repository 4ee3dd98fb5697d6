"""Value Zeroing against its definition, written out here as a literal loop over GPT-2 blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tokenlight import InputError, attribute

PROMPT = "def add(a, b):\n    return"


def _block_by_hand(block, h: torch.Tensor, zero: int | None) -> torch.Tensor:
    """GPT-2's block on ``h`` [P, d], with position ``zero``'s value vectors set to 0 in every head."""
    heads = block.attn.num_heads
    a = block.ln_1(h)
    q, k, v = block.attn.c_attn(a).split(h.shape[-1], dim=-1)
    if zero is not None:
        v = v.clone()
        v[zero] = 0
    p, d = h.shape
    dh = d // heads
    q, k, v = (x.view(p, heads, dh).transpose(0, 1) for x in (q, k, v))
    logits = q @ k.transpose(-1, -2) / math.sqrt(dh)
    logits = logits.masked_fill(torch.triu(torch.ones(p, p, dtype=torch.bool), 1), float("-inf"))
    mixed = (logits.softmax(-1) @ v).transpose(0, 1).reshape(p, d)
    h2 = h + block.attn.c_proj(mixed)
    return h2 + block.mlp(block.ln_2(h2))


@pytest.mark.parametrize("layers", ["last", "mean"])
def test_value_zeroing_equals_the_literal_loop(tiny_gpt2, layers):
    res = attribute(tiny_gpt2, PROMPT, target_text=" a + b", method="value_zeroing", layers=layers)
    model = tiny_gpt2.model
    ids = torch.tensor([[t.id for t in res.source_tokens] + [t.id for t in res.target_tokens[:-1]]])
    s, n = len(res.source_tokens), len(res.target_tokens)
    with torch.no_grad():
        inputs_to_blocks = model.transformer(input_ids=ids, output_hidden_states=True).hidden_states
        blocks = list(model.transformer.h) if layers == "mean" else [model.transformer.h[-1]]
        first = 0 if layers == "mean" else len(model.transformer.h) - 1
        expected = np.zeros((n, ids.shape[1]))
        for offset, block in enumerate(blocks):
            h = inputs_to_blocks[first + offset][0]
            plain = _block_by_hand(block, h, None)
            for j in range(ids.shape[1]):
                zeroed = _block_by_hand(block, h, j)
                for t in range(n):
                    p = s - 1 + t
                    expected[t, j] += 1 - float(torch.nn.functional.cosine_similarity(plain[p], zeroed[p], dim=0))
        expected /= len(blocks)
    for t in range(n):
        np.testing.assert_allclose(res.scores[t, : s + t], expected[t, : s + t], atol=2e-6, rtol=1e-4)
    assert np.all(res.scores[~np.isnan(res.scores)] >= -1e-6)
    assert res.deltas is None


def test_value_zeroing_does_not_depend_on_the_chunk_size(tiny_gpt2):
    one = attribute(tiny_gpt2, PROMPT, max_new_tokens=3, method="value_zeroing", internal_batch_size=1)
    many = attribute(tiny_gpt2, PROMPT, max_new_tokens=3, method="value_zeroing", internal_batch_size=64)
    np.testing.assert_allclose(one.scores, many.scores, atol=1e-6, equal_nan=True)


def test_value_zeroing_needs_attention_layers(linear_lm):
    with pytest.raises(InputError, match="cannot find this model's stack of transformer blocks"):
        attribute(linear_lm, PROMPT, target_text=" a", method="value_zeroing")
