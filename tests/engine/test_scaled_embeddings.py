"""Models whose embedding module scales its output (Gemma, Gemma 2, Gemma 3: × √d).

The input x is the embedding module's output, so every vector a method takes from the vocabulary
must be that output too. Two parameterisations of one function (the scaled module; its weight
pre-multiplied by the scale, the scale set to 1) must give identical results for every method: an
invariance, which holds however large a tiny random model's deltas are.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import transformers
from registry_options import fast_options
from tiny_models import tiny_decoder

from tokenlight import TokenlightError, attribute
from tokenlight.engine import from_objects, list_methods
from tokenlight.engine.methods import discretized_integrated_gradients as dig

ARCHITECTURES = {
    "gemma": ("GemmaConfig", "GemmaForCausalLM"),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM"),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM"),
}
# LRP's rules are written for GPT-2 and Llama-style blocks; it refuses Gemma by name (README)
REFUSED = {"lrp", "attnlrp"}
PROMPT, TARGET = "def f(x):", " return x"


def _scaled_pair(tokenizer, arch: str):
    """(the model as built, the same function with the scale folded into the weight), LM head untied."""
    config_cls, model_cls = (getattr(transformers, name) for name in ARCHITECTURES[arch])
    # untied LM head (tiny_models): folding the scale into a tied weight would change the head too
    scaled = tiny_decoder(config_cls, model_cls, tokenizer, attn_implementation="eager")
    folded = copy.deepcopy(scaled)
    embedding = folded.get_input_embeddings()
    scale = float(embedding.embed_scale)
    assert scale == pytest.approx(32**0.5)  # the case at hand: the module multiplies by √d
    embedding.weight.data *= scale
    embedding.embed_scale.fill_(1.0)
    return from_objects(scaled, tokenizer, name=arch), from_objects(folded, tokenizer, name=arch)


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def pair(request, tokenizer):
    return _scaled_pair(tokenizer, request.param)


def _same_function(scaled, folded) -> None:
    ids = torch.tensor(scaled.tokenizer("x y", add_special_tokens=False)["input_ids"])
    assert torch.equal(scaled.embedding(ids), folded.embedding(ids))  # the same function of the tokens


@pytest.mark.parametrize("method", [m.id for m in list_methods() if m.id not in REFUSED])
def test_every_method_gives_the_same_result_for_both_parameterisations(pair, method):
    scaled, folded = pair
    _same_function(scaled, folded)
    a = attribute(scaled, PROMPT, target_text=TARGET, method=method, seed=3, **fast_options(method)).scores
    b = attribute(folded, PROMPT, target_text=TARGET, method=method, seed=3, **fast_options(method)).scores
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-5 * float(np.nanmax(np.abs(a))))


@pytest.mark.parametrize("method", sorted(REFUSED))
def test_methods_without_rules_for_gemma_refuse_it_by_name(pair, method):
    scaled, _ = pair
    with pytest.raises(TokenlightError, match=f"{scaled.model.config.model_type}.*integrated_gradients"):
        attribute(scaled, PROMPT, target_text=TARGET, method=method)


def test_dig_path_ends_exactly_at_the_input(pair, monkeypatch):
    scaled, _ = pair
    seen = {}
    real = dig.path_gradient_terms

    def recording(target_fn, inputs, path, *args, **kwargs):
        seen["inputs"], seen["path"] = inputs, path
        return real(target_fn, inputs, path, *args, **kwargs)

    monkeypatch.setattr(dig, "path_gradient_terms", recording)
    attribute(scaled, PROMPT, target_text=TARGET, method="discretized_integrated_gradients", n_steps=4)
    assert torch.equal(seen["path"][-1], seen["inputs"])  # the last point of every token's path is x
