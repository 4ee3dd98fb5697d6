"""The batched kernel's guarantees: chunking, out-of-memory fallback, identity of models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tokenlight import TokenlightError, attribute
from tokenlight.engine import kernel
from tokenlight.engine.heads import split_body_and_head
from tokenlight.engine.methods import get_method


def _flaky_target_fn(target_fn, max_batch: int, calls: list[int]):
    """Raises torch's out-of-memory error for chunks larger than ``max_batch``."""

    def run(emb: torch.Tensor, **kwargs):
        calls.append(emb.shape[0])
        if emb.shape[0] > max_batch:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return target_fn(emb, **kwargs)

    return run


def test_out_of_memory_halves_the_chunk_and_keeps_the_result(tiny_gpt2, monkeypatch):
    reference = attribute(tiny_gpt2, "x = [1, 2", target_text=", 3]", n_steps=16, internal_batch_size=16)
    calls: list[int] = []
    original = kernel._accumulate

    def flaky(target_fn, *args, **kwargs):
        return original(_flaky_target_fn(target_fn, 4, calls), *args, **kwargs)

    monkeypatch.setattr(kernel, "_accumulate", flaky)
    res = attribute(tiny_gpt2, "x = [1, 2", target_text=", 3]", n_steps=16, internal_batch_size=16)
    assert calls[:3] == [16, 8, 4]  # halved twice, then ran in chunks of 4
    np.testing.assert_allclose(res.scores, reference.scores, atol=1e-6 * np.nanmax(np.abs(reference.scores)))


def test_out_of_memory_at_one_point_is_a_clear_error(tiny_gpt2, monkeypatch):
    original = kernel._accumulate

    def always(target_fn, *args, **kwargs):
        return original(_flaky_target_fn(target_fn, 0, []), *args, **kwargs)

    monkeypatch.setattr(kernel, "_accumulate", always)
    with pytest.raises(TokenlightError, match="out of memory even with one path point"):
        attribute(tiny_gpt2, "x", target_text=" = 1", n_steps=4)
    monkeypatch.undo()
    assert attribute(tiny_gpt2, "x", target_text=" = 1", n_steps=4).deltas is not None


def test_body_and_head_split_is_verified(tiny_gpt2):
    assert split_body_and_head(tiny_gpt2.model) is not None


def test_models_whose_logits_are_not_head_of_body_fall_back(tokenizer):
    """A model that rescales its logits fails the check and is attributed through its own logits."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from tokenlight.engine import from_objects

    class Scaled(GPT2LMHeadModel):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 0.5
            return out

    torch.manual_seed(2)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=16, n_layer=1, n_head=2)
    lm = from_objects(Scaled(config), tokenizer, name="scaled")
    assert split_body_and_head(lm.model) is None
    res = attribute(lm, "a", target_text=" b", n_steps=32)
    ids = torch.tensor([[t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]])
    with torch.no_grad():
        logit = lm.model(input_ids=ids).logits[0, len(res.source_tokens) - 1, res.target_tokens[0].id]
    assert res.target_scores[0] == pytest.approx(float(logit), rel=1e-5)
    assert abs(res.deltas[0]) < 1e-3


def test_model_identity_is_stable_and_content_based(lm, tiny_gpt2):
    assert lm.identity == lm.identity and len(lm.identity) == 64
    assert lm.identity != tiny_gpt2.identity


def test_max_target_tokens_truncates_the_forced_text(lm):
    res = attribute(lm, "def f():", target_text="\n    return 1\n\nx = f()\n", max_target_tokens=3, n_steps=4)
    assert len(res.target_tokens) == 3
    assert res.continuation == "".join(t.text for t in res.target_tokens)


def test_target_group_plans_cover_all_targets_contiguously():
    from tokenlight.engine.grouping import plan_target_groups

    for n_sources in (1, 5, 20, 200):
        for n_targets in (1, 2, 7, 16, 33):
            groups = plan_target_groups(n_sources, n_targets)
            assert groups[0][0] == 0 and groups[-1][1] == n_targets
            assert all(a < b for a, b in groups)
            assert all(groups[i][1] == groups[i + 1][0] for i in range(len(groups) - 1))
    assert plan_target_groups(500, 4) == [(0, 4)]  # a long prompt: one forward serves all
    assert len(plan_target_groups(2, 32)) > 1  # many targets on a short prompt: split


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "input_x_gradient"])
def test_grouping_targets_never_changes_results(lm, method):
    from tokenlight.engine.grouping import plan_target_groups

    text = " a + b\n\n\ndef sub(a, b):\n    return a - b\n"
    grouped = attribute(lm, "def add(a, b):\n    return", target_text=text, method=method, n_steps=8)
    assert len(plan_target_groups(len(grouped.source_tokens), len(grouped.target_tokens))) > 1
    whole = attribute(lm, "def add(a, b):\n    return", target_text=text, method=method, n_steps=8, group_targets=False)
    scale = np.nanmax(np.abs(whole.scores))
    np.testing.assert_allclose(grouped.scores, whole.scores, atol=1e-5 * scale, rtol=0)
    # deltas exactly when the method has them, and equal (None becomes a NaN that equals NaN)
    has_delta = get_method(method).has_convergence_delta
    assert (grouped.deltas is not None, whole.deltas is not None) == (has_delta, has_delta)
    np.testing.assert_allclose(
        np.asarray(grouped.deltas, dtype=float), np.asarray(whole.deltas, dtype=float), atol=1e-5 * scale, rtol=0
    )


def test_progress_counts_targets_across_groups(lm):
    seen: list[tuple[int, int, str]] = []
    res = attribute(
        lm,
        "x",
        target_text=" = [1, 2, 3, 4, 5, 6]\n",
        method="saliency",
        progress=lambda done, total, msg: seen.append((done, total, msg)),
    )
    n_targets = len(res.target_tokens)
    assert seen[-1][0] == seen[-1][1]
    assert [m for _, _, m in seen] == [f"target {k + 1} of {n_targets}" for k in range(n_targets)]
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
