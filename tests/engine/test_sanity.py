"""The model-parameter randomisation check (Adebayo et al. 2018) flags a map that ignores the weights."""

from __future__ import annotations

import pytest
import torch

from tokenlight import InputError, attribute
from tokenlight.engine.methods.base import (
    AttributionMethod,
    AttributionProblem,
    MethodOutput,
    register_method,
    unregister_method,
)

PROMPT = "def add(a, b):\n    return a"


@pytest.fixture
def embedding_norm_method():
    """A map built from the input alone (each token's embedding norm): it cannot depend on the weights."""

    @register_method
    class EmbeddingNorm(AttributionMethod):
        id = "test_embedding_norm"
        label = "Embedding norm (test)"
        summary = description = "The norm of each input embedding, the same for every target."
        family = "gradient"

        def _attribute(self, problem: AttributionProblem) -> MethodOutput:
            norms = problem.inputs.norm(dim=-1).to(torch.float64)
            return MethodOutput(norms.unsqueeze(0).repeat(problem.n_targets, 1))

    yield EmbeddingNorm.id
    unregister_method(EmbeddingNorm.id)


def test_a_weight_independent_map_is_flagged(tiny_gpt2, embedding_norm_method):
    res = attribute(tiny_gpt2, PROMPT, target_text=" + b", method=embedding_norm_method, sanity=True)
    sanity = res.sanity
    assert sanity["spearman"] == pytest.approx(1.0)
    assert sanity["dependsOnWeights"] is False
    assert "does not depend on the model's weights" in sanity["message"]
    assert sanity["layers"] == ["transformer.h.1"] and sanity["totalLayers"] == 2


def test_a_gradient_map_changes_with_the_weights_and_the_model_is_restored(lm):
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    res = attribute(lm, PROMPT, target_text=" + b", method="input_x_gradient", sanity=True)
    after = lm.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # restored bit for bit
    assert res.sanity["dependsOnWeights"] is True and res.sanity["message"] is None
    assert res.sanity["spearman"] < 0.9
    again = attribute(lm, PROMPT, target_text=" + b", method="input_x_gradient", sanity=True)
    assert again.sanity == res.sanity  # seeded


def test_a_model_without_layers_is_a_clear_error(linear_lm):
    with pytest.raises(InputError, match="no list of layers"):
        attribute(linear_lm, PROMPT, target_text=" b", method="input_x_gradient", sanity=True)
