"""A target's scores depend only on (model, prompt, its own position and token, options, seed).

Never on how many targets were asked with it, on grouping, or on the batch size. One test over the
whole method registry, so a method added later is held to this without anyone remembering to.
"""

from __future__ import annotations

import numpy as np
import pytest
from registry_options import ROUNDING_TOLERANCE, fast_options

from tokenlight import attribute
from tokenlight.engine import list_methods

PROMPT = "x ="
# 30 one-character words: each is one token, and the prompt plus any prefix of them tokenises as
# the concatenation (checked below), so "target k alone" is target k after the same token sequence
TARGETS = " " + " ".join("abcdefghijklmnopqrstuvwxyz0123")
K = 20  # a target in a later group of the default plan, so grouping is exercised


def _start(k: int) -> int:
    return 2 * k  # target k is the two characters " x" at 2k


def _row(lm, method: str, first: int, count: int, row: int, **kwargs) -> tuple[np.ndarray, list[int]]:
    """Target K's row and the token ids before it, with targets ``first .. first+count-1`` asked."""
    res = attribute(
        lm,
        PROMPT + TARGETS[: _start(first)],
        target_text=TARGETS[_start(first) :],
        max_target_tokens=count,
        method=method,
        seed=11,
        **fast_options(method),
        **kwargs,
    )
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]
    visible = len(res.source_tokens) + row
    assert res.target_tokens[row].id == ids[visible]
    return res.scores[row, :visible], ids[: visible + 1]


@pytest.mark.parametrize("method", [m.id for m in list_methods()])
def test_a_targets_scores_never_depend_on_the_other_targets_or_the_batch_size(tiny_gpt2, method):
    alone, ids = _row(tiny_gpt2, method, K, 1, 0)
    runs = {
        "among 30, grouped": _row(tiny_gpt2, method, 0, 30, K),
        "among 30, not grouped": _row(tiny_gpt2, method, 0, 30, K, group_targets=False),
        "among 3": _row(tiny_gpt2, method, K - 1, 3, 1),
        "among 3, internal_batch_size 1": _row(tiny_gpt2, method, K - 1, 3, 1, internal_batch_size=1),
    }
    scale = float(np.abs(alone).max())
    assert scale > 0
    for name, (scores, run_ids) in runs.items():
        assert run_ids == ids, name  # the same token sequence up to and including target K
        worst = float(np.abs(scores - alone).max()) / scale
        limit = ROUNDING_TOLERANCE.get(method, 1e-6)
        assert worst <= limit, f"{method}, {name}: differs from target {K} alone by {worst:.2e} of max |score|"
