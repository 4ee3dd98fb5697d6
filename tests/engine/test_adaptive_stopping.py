"""Adaptive Integrated Gradients stops per target: a target whose delta has converged gets no more
backward passes, and keeps the scores of the level where it converged.

So a target's scores depend on its own convergence only: asked alone or among others, the same
numbers (before, every target ran until all had converged, and its scores moved with the others').
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from tokenlight import attribute
from tokenlight.engine import kernel
from tokenlight.engine.quadrature import ADAPTIVE_LEVELS

PROMPT = "x ="
TARGETS = " " + " ".join("abcdefgh")  # 8 one-token words


# the tiny GPT-2's integrands are so smooth that 7 Gauss points meet even 1e-6 on every target; with
# 5× larger initial weights and 1e-5, some targets stop after the first level and some do not
TIGHT = 1e-5


@pytest.fixture(scope="module")
def rougher_gpt2(tiny_gpt2):
    from transformers import GPT2LMHeadModel

    from tokenlight.engine import from_objects

    config = copy.deepcopy(tiny_gpt2.model.config)
    config.initializer_range = 0.1
    torch.manual_seed(0)
    return from_objects(GPT2LMHeadModel(config), tiny_gpt2.tokenizer, name="tiny-gpt2-rough")


def test_a_converged_target_gets_no_more_backward_passes(rougher_gpt2, monkeypatch):
    asked: list[list[int] | None] = []
    real = kernel._accumulate

    def recording(*args, **kwargs):
        asked.append(kwargs.get("targets"))
        return real(*args, **kwargs)

    monkeypatch.setattr(kernel, "_accumulate", recording)
    res = attribute(rougher_gpt2, PROMPT, target_text=TARGETS, group_targets=False, tolerance=TIGHT)
    n = len(res.target_tokens)
    assert asked[0] == list(range(n))  # the first level: everyone
    later = [a for a in asked[1:] if a is not None]
    assert later and all(len(b) <= len(a) for a, b in itertools.pairwise(asked))
    assert len(later[-1]) < n  # some target stopped early
    change = np.abs(res.target_scores - res.baseline_scores)
    stopped_early = np.abs(res.deltas) <= TIGHT * change + 1e-6
    assert stopped_early.sum() >= n - len(later[-1])
    assert res.n_steps in ADAPTIVE_LEVELS


def test_a_targets_adaptive_scores_do_not_depend_on_the_other_targets(tiny_gpt2):
    together = attribute(tiny_gpt2, PROMPT, target_text=TARGETS, group_targets=False)
    for k in (0, 3, 7):
        alone = attribute(tiny_gpt2, PROMPT + TARGETS[: 2 * k], target_text=TARGETS[2 * k :], max_target_tokens=1)
        visible = len(alone.source_tokens)
        row = together.scores[k, :visible]
        scale = float(np.abs(alone.scores[0, :visible]).max())
        assert float(np.abs(row - alone.scores[0, :visible]).max()) <= 1e-6 * scale, k
        assert abs(float(together.deltas[k] - alone.deltas[0])) <= 1e-6 * max(scale, 1e-3)


def test_each_level_computes_only_the_points_the_levels_before_lack(rougher_gpt2, monkeypatch):
    from tokenlight.engine.methods import integrated_gradients
    from tokenlight.engine.quadrature import PATTERSON_LEVELS, patterson

    computed: list[float] = []
    real = kernel._accumulate

    def recording(target_fn, inputs, baselines, alphas, *args, **kwargs):  # type: ignore[no-untyped-def]
        computed.extend(alphas.tolist())
        return real(target_fn, inputs, baselines, alphas, *args, **kwargs)

    monkeypatch.setattr(kernel, "_accumulate", recording)
    monkeypatch.setattr(integrated_gradients.IntegratedGradients, "adaptive_levels", PATTERSON_LEVELS)
    monkeypatch.setattr(integrated_gradients, "ABSOLUTE_FLOOR", 0.0)
    res = attribute(rougher_gpt2, PROMPT, target_text=" a", tolerance=1e-12)  # no level meets it
    assert res.n_steps == PATTERSON_LEVELS[-1]
    # 63 gradient points in all for four levels (7 + 8 + 16 + 32), each computed once
    assert len(computed) == PATTERSON_LEVELS[-1]
    np.testing.assert_allclose(sorted(computed), patterson(PATTERSON_LEVELS[-1])[0], atol=1e-15)
