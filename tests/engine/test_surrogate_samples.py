"""LIME and KernelSHAP say when they have too few samples for the tokens they fit."""

from __future__ import annotations

import pytest

from tokenlight import attribute

PROMPT, TARGET = "def add(a, b):", " return"  # one target that sees all the prompt's tokens


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_too_few_samples_for_the_tokens_is_said(tiny_gpt2, method):
    few = attribute(tiny_gpt2, PROMPT, target_text=TARGET, method=method, n_samples=4)
    tokens = len(few.source_tokens)
    assert tokens > 4  # so 4 samples are too few
    assert any("underdetermined" in w and f"fitted {tokens} tokens from 4 samples" in w for w in few.warnings)
    enough = attribute(tiny_gpt2, PROMPT, target_text=TARGET, method=method, n_samples=4 * tokens)
    assert not any("underdetermined" in w for w in enough.warnings)


def test_samples_to_meet_follows_one_over_root_n():
    from tokenlight.engine.options import MAX_SAMPLES, samples_to_meet

    # a delta at 20% with 32 samples: (0.2 / 0.05)² = 16 times the samples
    assert samples_to_meet(32, 0.2, 0.05) == 512
    assert samples_to_meet(32, 0.06, 0.05) == 64  # 46.08, rounded up to a multiple of 32
    assert samples_to_meet(32, 0.04, 0.05) == 32  # already within
    assert samples_to_meet(32, 1e6, 0.05) == MAX_SAMPLES


def test_gradient_shap_note_names_sampling_error_and_the_samples_needed():
    import torch

    from tokenlight.engine.methods.base import get_method

    method = get_method("gradient_shap")
    deltas = torch.tensor([0.25, 0.01])
    notes = method.delta_notes(deltas, torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]), 32)
    assert notes == [
        "sampling error: GradientSHAP is complete only in expectation, and with 32 samples the delta is up to 25% "
        "of f(x) − f(x′) (target(s) 0); it shrinks as 1/√n_samples, so about 800 samples would bring it within 5%"
    ]
    # a path method's note keeps its advice
    (ig_note,) = get_method("integrated_gradients").delta_notes(deltas, torch.ones(2), torch.zeros(2), 16)
    assert ig_note.endswith("raise n_steps")
