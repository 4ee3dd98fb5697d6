"""The per-layer view (option ``per_layer``): one target's layer IG at every block's output, equal
to captum's LayerIntegratedGradients at each layer, complete per layer, and all layers from one
forward per chunk of (layer, point) rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients

from tokenlight import InputError, attribute
from tokenlight.engine.result import Attribution

PROMPT = "def add(a, b):\n    return"


@pytest.mark.parametrize("which", [1, -1])
def test_every_layers_row_equals_captum_layer_integrated_gradients(tiny_gpt2, which):
    n_steps = 16
    res = attribute(tiny_gpt2, PROMPT, target_text=" a + b", method="saliency", per_layer=which, baseline="eos",
                    n_steps=n_steps)  # fmt: skip
    model = tiny_gpt2.model
    t = which % len(res.target_tokens)
    assert res.layer_target == t
    s = len(res.source_tokens)
    ids = torch.tensor([[tok.id for tok in res.source_tokens] + [tok.id for tok in res.target_tokens][:t]])
    eos = tiny_gpt2.tokenizer.eos_token_id
    target_id = res.target_tokens[t].id

    def forward(input_ids: torch.Tensor) -> torch.Tensor:
        return model(input_ids=input_ids).logits[:, -1, target_id]

    blocks = model.transformer.h
    assert res.layer_scores.shape == (len(blocks), s + len(res.target_tokens))
    for layer, block in enumerate(blocks):
        attr = LayerIntegratedGradients(forward, block).attribute(
            ids, baselines=torch.full_like(ids, eos), n_steps=n_steps, method="gausslegendre"
        )
        expected = (attr[0] if isinstance(attr, tuple) else attr).sum(-1)[0].detach().numpy()
        row = res.layer_scores[layer]
        np.testing.assert_allclose(row[: s + t], expected, atol=1e-4 * np.abs(expected).max(), rtol=0)
        assert np.all(np.isnan(row[s + t :]))


def test_each_layer_is_complete(lm):
    """Σ row l = f(x) − f(x′) at every layer: h_l(x′) is what the baseline input gives there."""
    res = attribute(lm, PROMPT, max_new_tokens=3, n_steps=32, per_layer=2)
    t = res.layer_target
    change = float(res.target_scores[t]) - float(res.baseline_scores[t])
    sums = np.nansum(res.layer_scores.astype(np.float64), axis=1)
    np.testing.assert_allclose(sums - change, res.layer_deltas, atol=1e-4)
    assert np.all(np.abs(res.layer_deltas) <= 1e-3 * abs(change) + 1e-5)
    assert res.layer_scores.shape[0] == lm.model.config.n_layer
    # the rows differ: attribution moves between positions through the depth
    assert not np.allclose(res.layer_scores[0], res.layer_scores[-1], equal_nan=True)


def _forwards(tiny_gpt2, **options) -> tuple[int, Attribution]:
    """The model's forwards in one attribution (every forward of the body runs its first block once)."""
    calls = [0]

    def count(module, args):
        calls[0] += 1

    handle = tiny_gpt2.model.transformer.h[0].register_forward_pre_hook(count)
    try:
        res = attribute(tiny_gpt2, PROMPT, target_text=" a + b", method="saliency", n_steps=8, **options)
    finally:
        handle.remove()
    return calls[0], res


@pytest.mark.parametrize("batch", [5, 64])
def test_the_whole_view_costs_one_forward_per_chunk(tiny_gpt2, batch):
    without, plain = _forwards(tiny_gpt2, internal_batch_size=batch)
    with_view, res = _forwards(tiny_gpt2, internal_batch_size=batch, per_layer=-1)
    rows = len(tiny_gpt2.model.transformer.h) * 8  # (layer, point) rows
    # one forward over x and x′ (every block's activations and f), then one per chunk of rows
    assert with_view - without == 1 + math.ceil(rows / batch)
    np.testing.assert_array_equal(res.scores, plain.scores)  # the view leaves the result alone
    _, other = _forwards(tiny_gpt2, internal_batch_size=3, per_layer=-1)
    np.testing.assert_allclose(other.layer_scores, res.layer_scores, rtol=1e-5, atol=1e-7)  # chunking changes nothing


def test_the_view_travels_in_json_and_msgpack_and_follows_word_aggregation(tiny_gpt2):
    res = attribute(tiny_gpt2, PROMPT, target_text=" a + b", n_steps=4, per_layer=0)
    view = res.to_json_dict()["perLayer"]
    assert view["target"] == 0
    assert len(view["scores"]) == len(tiny_gpt2.model.transformer.h) == len(view["deltas"])
    assert view["scores"][0][len(res.source_tokens)] is None  # NaN past the target, as in scores
    assert Attribution.from_msgpack(res.to_msgpack()) == res
    assert attribute(tiny_gpt2, PROMPT, target_text=" a + b", n_steps=4).to_json_dict()["perLayer"] is None
    words = attribute(tiny_gpt2, PROMPT, target_text=" a + b", n_steps=4, per_layer=0, aggregate="word")
    assert words.layer_scores.shape[1] == words.scores.shape[1]
    np.testing.assert_allclose(np.nansum(words.layer_scores, 1), np.nansum(res.layer_scores, 1), rtol=1e-5)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"per_layer": 5}, "per_layer target 5 does not exist: this result has 3 target"),
        ({"per_layer": 0, "step_function": "logit_diff", "contrast_text": " x y z"}, "per-layer view cannot be"),
    ],
)
def test_bad_per_layer_requests_say_what_to_do(tiny_gpt2, options, message):
    with pytest.raises(InputError, match=message):
        attribute(tiny_gpt2, PROMPT, target_text=" a + b", n_steps=4, **options)


def test_a_classifier_gets_advice_not_a_view(tiny_classifier):
    with pytest.raises(InputError, match="decoder-only language models"):
        attribute(tiny_classifier, "good stuff", per_layer=0, n_steps=4)
