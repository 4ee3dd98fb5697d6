"""Rotary scalings whose frequencies depend on the total length (``longrope``, ``dynamic``).

On such a model a position's output changes with the length of the sequence it is part of, so one
forward over prompt + all targets is not what each target's own prefix computes. Each target is
held to captum's Integrated Gradients on exactly its own prefix.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from tiny_models import tiny_decoder
from transformers import LlamaConfig, LlamaForCausalLM

from tokenlight import attribute
from tokenlight.engine import from_objects

PROMPT = "x ="
TARGETS = " " + " ".join("abcdefghijklmnopqrst")  # 20 one-token words: 22 positions in all
N_STEPS = 8
ROPE = {
    # the long factors replace the short ones once a sequence passes 16 positions
    "longrope": (
        128,
        {
            "rope_type": "longrope",
            "short_factor": [1.0] * 4,
            "long_factor": [4.0] * 4,
            "original_max_position_embeddings": 16,
        },
    ),
    # NTK scaling recomputes the frequencies for sequences past max_position_embeddings (16)
    "dynamic": (16, {"rope_type": "dynamic", "factor": 4.0}),
}


def _tiny_llama(tokenizer, kind: str):
    max_positions, rope = ROPE[kind]
    model = tiny_decoder(
        LlamaConfig,
        LlamaForCausalLM,
        tokenizer,
        max_position_embeddings=max_positions,
        rope_parameters={"rope_theta": 10000.0, **rope},
        attn_implementation="eager",  # the attention test reads the weights
    )
    lm = from_objects(model, tokenizer, name=f"llama-{kind}")
    # dynamic NTK exists to run past max_position_embeddings, which the context check would refuse
    return dataclasses.replace(lm, context_length=128)


def _captum_on_prefix(lm, ids: list[int], target: int) -> tuple[np.ndarray, float]:
    """IG of the target's logit on exactly its prefix ``ids`` (zero baseline), and f(x) there."""
    model = lm.model
    emb = model.get_input_embeddings()(torch.tensor([ids])).detach()

    def logit(x: torch.Tensor) -> torch.Tensor:
        return model(inputs_embeds=x).logits[:, -1, target]

    ig = IntegratedGradients(logit)
    attr = ig.attribute(emb, baselines=torch.zeros_like(emb), n_steps=N_STEPS, method="gausslegendre")
    with torch.no_grad():
        value = float(logit(emb)[0])
    return attr[0].sum(-1).double().numpy(), value


@pytest.mark.parametrize("kind", list(ROPE))
def test_each_target_equals_captum_on_its_own_prefix(tokenizer, kind):
    lm = _tiny_llama(tokenizer, kind)
    res = attribute(lm, PROMPT, target_text=TARGETS, method="integrated_gradients", n_steps=N_STEPS)
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]
    s = len(res.source_tokens)
    assert len(ids) - 1 > 16  # the forward over everything is past the limit
    for t, target in enumerate(res.target_tokens):
        expected, value = _captum_on_prefix(lm, ids[: s + t], target.id)
        assert res.target_scores[t] == pytest.approx(value, abs=1e-5)
        np.testing.assert_allclose(res.scores[t, : s + t], expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("kind", list(ROPE))
def test_attention_rows_come_from_each_targets_own_prefix(tokenizer, kind):
    lm = _tiny_llama(tokenizer, kind)
    res = attribute(lm, PROMPT, target_text=TARGETS, method="attention")
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]
    s = len(res.source_tokens)
    for t in range(len(res.target_tokens)):  # ascending prefixes: each reference runs from a fresh state
        with torch.no_grad():
            out = lm.model(input_ids=torch.tensor([ids[: s + t]]), output_attentions=True)
        expected = out.attentions[-1][0, :, -1].double().mean(0).numpy()  # last layer, mean over heads
        np.testing.assert_allclose(res.scores[t, : s + t], expected, rtol=0, atol=1e-6)
