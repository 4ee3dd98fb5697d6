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
