"""Attribution to a layer (option ``layer``): equal to captum's LayerIntegratedGradients, and
complete at that layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients

from tokenlight import InputError, attribute

PROMPT = "def add(a, b):\n    return"


@pytest.mark.parametrize("layer", [0, -1])
def test_layer_ig_equals_captum_layer_integrated_gradients(tiny_gpt2, layer):
    """captum's LIG interpolates the block's output between its values for the baseline input and
    for the input, one run per target on its own prefix; ours does all targets in one run."""
    n_steps = 16
    res = attribute(tiny_gpt2, PROMPT, target_text=" a + b", layer=layer, baseline="eos", n_steps=n_steps)
    model = tiny_gpt2.model
    block = model.transformer.h[layer]
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]
    s = len(res.source_tokens)
    eos = tiny_gpt2.tokenizer.eos_token_id
    for t, target in enumerate(res.target_tokens):
        prefix = torch.tensor([ids[: s + t]])

        def forward(input_ids: torch.Tensor, _tid: int = target.id) -> torch.Tensor:
            return model(input_ids=input_ids).logits[:, -1, _tid]

        attr = LayerIntegratedGradients(forward, block).attribute(
            prefix, baselines=torch.full_like(prefix, eos), n_steps=n_steps, method="gausslegendre"
        )
        attr = (attr[0] if isinstance(attr, tuple) else attr).sum(-1)[0].numpy()
        np.testing.assert_allclose(res.scores[t, : s + t], attr, atol=1e-4 * np.abs(attr).max(), rtol=0)
        assert np.all(np.isnan(res.scores[t, s + t :]))


def test_layer_ig_is_complete_at_the_layer(lm):
    res = attribute(lm, PROMPT, max_new_tokens=4, layer=2)
    plain = attribute(lm, PROMPT, max_new_tokens=4, n_steps=8)
    # f(x) and f(x′) are the model's, whatever layer is attributed
    np.testing.assert_allclose(res.target_scores, plain.target_scores, rtol=1e-5)
    np.testing.assert_allclose(res.baseline_scores, plain.baseline_scores, rtol=1e-4, atol=1e-4)
    change = res.target_scores.astype(np.float64) - res.baseline_scores
    np.testing.assert_allclose(np.nansum(res.scores, 1) - change, res.deltas, atol=1e-4)
    assert np.all(np.abs(res.deltas) <= 2e-3 * np.abs(change) + 1e-5)
    assert res.options["layer"] == 2


def test_gradient_methods_at_a_layer_use_the_layer_gradient(tiny_gpt2):
    """input × gradient at a layer: h(x) · ∂f/∂h(x), written out here with a hook."""
    res = attribute(tiny_gpt2, PROMPT, target_text=" a", layer=0, method="input_x_gradient")
    model = tiny_gpt2.model
    ids = torch.tensor([[t.id for t in res.source_tokens]])
    kept: list[torch.Tensor] = []

    def keep(module, args, output):  # the weights are frozen: make the block's output a leaf
        h = (output[0] if isinstance(output, tuple) else output).detach().requires_grad_(True)
        kept.append(h)
        return (h, *output[1:]) if isinstance(output, tuple) else h

    handle = model.transformer.h[0].register_forward_hook(keep)
    try:
        with torch.enable_grad():
            model(input_ids=ids).logits[0, -1, res.target_tokens[0].id].backward()
    finally:
        handle.remove()
    h = kept[0]
    expected = (h * h.grad).sum(-1)[0].detach().numpy()
    assert np.count_nonzero(expected) == len(expected)  # below the last block every position matters
    np.testing.assert_allclose(res.scores[0, : len(expected)], expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"layer": 7}, "layer 7 does not exist: this model has 4 blocks"),
        ({"layer": 1, "method": "attention"}, "attention cannot attribute to a layer"),
        ({"layer": 1, "step_function": "logit_diff", "contrast_text": " x y"}, "cannot be combined with the layer"),
    ],
)
def test_bad_layer_requests_say_what_to_do(lm, options, message):
    with pytest.raises(InputError, match=message):
        attribute(lm, PROMPT, max_new_tokens=2, **options)
