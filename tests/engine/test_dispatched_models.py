"""Models dispatched by accelerate (``device_map``): hooks move or load weights around each forward.

The per-target head reads LM-head rows directly; under accelerate those rows live elsewhere until
the module's hook loads them (CPU/disk offload uses the same hooks as a model split over GPUs).
Every result must equal the undispatched model's.
"""

from __future__ import annotations

import copy

import accelerate
import numpy as np
import pytest
import torch
from tiny_models import tiny_decoder
from transformers import LlamaConfig, LlamaForCausalLM

from tokenlight import attribute
from tokenlight.engine import from_objects

PROMPT, TARGET = "def f(x):", " return x + 1"


def _tiny_llama(tokenizer) -> LlamaForCausalLM:
    return tiny_decoder(LlamaConfig, LlamaForCausalLM, tokenizer)


@pytest.mark.parametrize("head_on", ["disk", "cpu-offload"])
@pytest.mark.parametrize("step", ["logit", "probability"])  # the head's rows, and the full head
def test_a_dispatched_model_gives_the_undispatched_result(tokenizer, tmp_path, head_on, step):
    plain = _tiny_llama(tokenizer)
    model = copy.deepcopy(plain)
    if head_on == "disk":  # the LM head's weight lives on disk and is loaded for each forward
        model = accelerate.dispatch_model(model, device_map={"model": "cpu", "lm_head": "disk"}, offload_dir=tmp_path)
    else:  # every weight is held off the module (meta) and loaded around each forward
        model = accelerate.cpu_offload(model, execution_device=torch.device("cpu"))
    assert model.lm_head.weight.device.type == "meta"  # the weight is not where F.linear would look
    lms = [from_objects(plain, tokenizer, "plain"), from_objects(model, tokenizer, "dispatched")]
    for method in ("integrated_gradients", "saliency", "occlusion"):
        want, got = (
            attribute(lm, PROMPT, target_text=TARGET, method=method, n_steps=8, step_function=step) for lm in lms
        )
        np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-6 * np.nanmax(np.abs(want.scores)))
        np.testing.assert_allclose(got.target_scores, want.target_scores, rtol=1e-6)
        assert [t.probability for t in got.target_tokens] == pytest.approx([t.probability for t in want.target_tokens])
