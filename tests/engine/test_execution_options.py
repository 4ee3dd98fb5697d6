"""Execution options change speed and memory only, never a result.

For every method in the registry, each option of the execution group set away from its default
(the value derived from the option's declaration: a flag flipped, a number at its minimum, so
``memory_budget=1`` recomputes layers and ``internal_batch_size=1`` runs one point per pass) gives
the default's scores within float rounding, and the same f(x), f(x′) and deltas; so do all of
them at once. The results cache
leaves these options out of its key because of this (docs/protocol.md, "Results cache"), so an
option or method added later is held to it here without anyone remembering to.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from registry_options import ROUNDING_TOLERANCE, fast_options

from option_values import non_default_value
from tokenlight import attribute
from tokenlight.engine import from_objects, list_methods
from tokenlight.engine.options import EXECUTION, PYTHON, list_options

# held to the same rule by a test of its own, which compiles every gradient method (seconds each)
COVERED_ELSEWHERE = {"compile_layers": "tests/engine/test_compile.py"}
EXECUTION_OPTIONS = [o for o in list_options(PYTHON) if o.group == EXECUTION and o.name not in COVERED_ELSEWHERE]
# ~60 tokens through a 64-wide model: one path point's activations (~1.1 MiB) exceed memory_budget's
# minimum of 1 MiB, so that setting really recomputes the gradient methods' layers (checked below)
PROMPT, TARGET = "def add(a, b):\n    return a + b\n" * 4 + "def sub(a, b):\n    return", " a - b\n"
# KernelSHAP's fit is underdetermined with fewer samples than the prompt's ~60 tokens, and then
# amplifies float rounding into percent-level moves (the result warns so): give it enough
WELL_POSED = {"kernel_shap": {"n_samples": 256}}


@pytest.fixture(scope="module")
def roomy_gpt2(tokenizer):
    """tiny_gpt2's depth at twice its width, with room for the prompt."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=96, n_embd=64, n_layer=2, n_head=4)
    return from_objects(GPT2LMHeadModel(config).eval(), tokenizer, name="tiny-gpt2-64-wide")


def _relative(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    assert a.shape == b.shape and np.array_equal(np.isnan(a), np.isnan(b))
    return float(np.nanmax(np.abs(a - b))) / scale


def test_the_execution_group_holds_the_speed_and_memory_options():
    names = {o.name for o in EXECUTION_OPTIONS} | set(COVERED_ELSEWHERE)
    assert {"internal_batch_size", "memory_budget", "group_targets", "reuse_prefix", "compile_layers"} <= names


@pytest.mark.parametrize("method", [m.id for m in list_methods()])
def test_no_execution_option_changes_a_result(roomy_gpt2, method):
    impl = next(m for m in list_methods() if m.id == method)

    def run(**extra):
        return attribute(
            roomy_gpt2,
            PROMPT,
            target_text=TARGET,
            method=method,
            seed=5,
            **{**fast_options(method), **WELL_POSED.get(method, {})},
            **extra,
        )

    default = run()
    scale = float(np.nanmax(np.abs(default.scores)))
    assert scale > 0
    limit = ROUNDING_TOLERANCE.get(method, 1e-6)
    each = [{option.name: non_default_value(option)} for option in EXECUTION_OPTIONS]
    every = {name: value for change in each for name, value in change.items()}  # every lever at once
    for change in [*each, every]:
        other = run(**change)
        where = f"{method} with {change}"
        if "memory_budget" in change and impl.recomputable:  # the case is what it says
            assert any("recomputed" in note for note in other.notes), (where, other.notes)
        assert _relative(other.scores, default.scores, scale) <= limit, where
        for field in ("target_scores", "baseline_scores"):
            expected, got = getattr(default, field), getattr(other, field)
            assert (got is None) == (expected is None), where
            if expected is not None:
                np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=where)
        assert (other.deltas is None) == (default.deltas is None), where
        if default.deltas is not None:
            # what the delta measures against: f(x) − f(x′), or f(x) for a method without a baseline (LRP)
            reference = 0.0 if default.baseline_scores is None else default.baseline_scores
            change = float(np.abs(default.target_scores - reference).max())
            assert np.abs(other.deltas - default.deltas).max() <= limit * max(change, scale), where
        assert other.n_steps == default.n_steps, where
