"""Out of memory on a large chunk never fails an attribution nor changes it: every method's passes
go through the one memory-aware chunker, which halves the chunk and starts again."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from registry_options import fast_options

from tokenlight import attribute
from tokenlight.engine import list_methods
from tokenlight.engine.heads import CausalTargets

PROMPT, TARGET = "x = [1, 2", ", 3, 4]"
MAX_BATCH = 2  # x and x′ together (f(x), f(x′)) still fit; any larger pass does not
# methods whose passes carry more than MAX_BATCH sequences (the others run 1 or 2 at a time)
BATCHING = {
    "integrated_gradients",
    "discretized_integrated_gradients",
    "sequential_integrated_gradients",
    "guided_integrated_gradients",
    "gradient_shap",
    "deeplift_shap",
    "occlusion",
    "kernel_shap",
    "lime",
    "span_occlusion",
    "context_ablation",
    "greedy_pig",
    "pgd_sensitivity",
}


@pytest.mark.parametrize("method", [m.id for m in list_methods()])
def test_a_fake_out_of_memory_on_large_chunks_leaves_the_result_unchanged(tiny_gpt2, monkeypatch, method):
    options = {"target_text": TARGET, "method": method, "seed": 2, **fast_options(method)}
    reference = attribute(tiny_gpt2, PROMPT, **options)
    refused: list[int] = []
    real_call, real_logits = CausalTargets.__call__, CausalTargets.logits_per_target

    def refuse_above_two(emb: torch.Tensor) -> None:
        if emb.shape[0] > MAX_BATCH:
            refused.append(emb.shape[0])
            raise torch.OutOfMemoryError(f"CUDA out of memory (fake: a batch of {emb.shape[0]})")

    def out_of_memory_above_two(self, emb: torch.Tensor, **kwargs):
        refuse_above_two(emb)
        return real_call(self, emb, **kwargs)

    def logits_out_of_memory_above_two(self, emb: torch.Tensor):  # the full-logits passes (PGD sensitivity)
        refuse_above_two(emb)
        return real_logits(self, emb)

    monkeypatch.setattr(CausalTargets, "__call__", out_of_memory_above_two)
    monkeypatch.setattr(CausalTargets, "logits_per_target", logits_out_of_memory_above_two)
    res = attribute(tiny_gpt2, PROMPT, **options)
    assert bool(refused) == (method in BATCHING), refused  # the fake really hit the batching methods
    scale = float(np.nanmax(np.abs(reference.scores)))
    np.testing.assert_allclose(res.scores, reference.scores, rtol=0, atol=1e-6 * scale)
