"""Bounded memory: past the budget, decoder layers are recomputed in the backward pass.

The scores are the same as without recomputation, the result says what was done, the forward
really kept a fraction of the activations (counted with autograd's saved-tensor hooks), an
out-of-memory at one point turns recomputation on instead of failing, and methods without backward
passes are left alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_decoder
from transformers import LlamaConfig, LlamaForCausalLM

from tokenlight import attribute
from tokenlight.engine import from_objects
from tokenlight.engine.heads import CausalTargets
from tokenlight.engine.memory import bytes_per_point, decoder_layers

# ~70 tokens through a 64-wide model: one point's activations (~1.5 MiB) exceed a 1 MiB budget
PROMPT, TARGET = "def add(a, b):\n    return a + b\n" * 5 + "def sub(a, b):\n    return", " a - b"


@pytest.fixture(scope="module")
def wide(tokenizer):
    model = tiny_decoder(
        LlamaConfig, LlamaForCausalLM, tokenizer, hidden_size=64, intermediate_size=128, max_position_embeddings=256
    )
    return from_objects(model, tokenizer, name="tiny-llama-64")


def _saved_bytes_per_point(monkeypatch) -> list[float]:
    """Bytes autograd keeps for the backward passes, per path point, in every forward with gradients."""
    per_point: list[float] = []
    real_call = CausalTargets.__call__

    def counting(self, emb, **kwargs):
        total = [0]

        def pack(t: torch.Tensor) -> torch.Tensor:
            total[0] += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = real_call(self, emb, **kwargs)
        if torch.is_grad_enabled() and emb.requires_grad:
            per_point.append(total[0] / emb.shape[0])
        return out

    monkeypatch.setattr(CausalTargets, "__call__", counting)
    return per_point


@pytest.mark.parametrize("method", ["integrated_gradients", "input_x_gradient", "gradient_shap"])
def test_recomputed_layers_give_the_same_scores_and_say_so(wide, method, monkeypatch):
    tokens = len(wide.tokenizer(PROMPT + TARGET)["input_ids"])
    assert bytes_per_point(tokens, 64, 2, 0, 4) > 1024**2  # the case is what it says
    options = {"target_text": TARGET, "method": method, "n_steps": 4, "n_samples": 4, "seed": 1}
    saved = _saved_bytes_per_point(monkeypatch)
    plain = attribute(wide, PROMPT, **options)
    kept_plain = max(saved)
    saved.clear()
    budgeted = attribute(wide, PROMPT, memory_budget=1, **options)  # 1 MiB: below one point
    assert max(saved) < kept_plain / 3  # the forward kept only the layers' inputs
    scale = float(np.nanmax(np.abs(plain.scores)))
    np.testing.assert_allclose(budgeted.scores, plain.scores, rtol=0, atol=1e-6 * scale)
    assert any("recomputed in every backward pass" in note for note in budgeted.notes)
    assert not any("recomputed" in note for note in plain.notes)
    assert all("forward" not in vars(layer) for layer in decoder_layers(wide.model))  # unwrapped after


def test_out_of_memory_at_one_point_turns_recomputation_on(wide, monkeypatch):
    reference = attribute(wide, PROMPT, target_text=TARGET, n_steps=4)
    real_call = CausalTargets.__call__

    def out_of_memory_unless_recomputed(self, emb, **kwargs):
        wrapped = all("forward" in vars(layer) for layer in decoder_layers(self.model))
        if torch.is_grad_enabled() and emb.requires_grad and not wrapped:
            raise torch.OutOfMemoryError("CUDA out of memory (fake: activations of a whole point)")
        return real_call(self, emb, **kwargs)

    monkeypatch.setattr(CausalTargets, "__call__", out_of_memory_unless_recomputed)
    res = attribute(wide, PROMPT, target_text=TARGET, n_steps=4)
    np.testing.assert_allclose(
        res.scores, reference.scores, rtol=0, atol=1e-6 * float(np.nanmax(np.abs(reference.scores)))
    )
    assert any("ran out of memory" in note and "recomputed" in note for note in res.notes)


def test_methods_without_backward_passes_are_not_recomputed(wide):
    res = attribute(wide, PROMPT, target_text=TARGET, method="occlusion", memory_budget=1)
    assert not any("recomputed" in note for note in res.notes)
