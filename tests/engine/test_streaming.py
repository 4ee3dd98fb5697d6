"""Partial results: each finished group of targets is handed out before the whole attribution ends.

The partial rows are exactly the final result's rows (same numbers, same NaN boundary, the same
word merging), every target arrives once and in order, no part holds more than a quarter of the
targets and the first no more than an eighth (so that it comes early), and asking for partial
results changes no score beyond float rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from tokenlight import attribute
from tokenlight.engine import PartialResult

PROMPT, TARGET = "def add(a, b):\n    return", " a + b if a else b\n"


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("integrated_gradients", {"n_steps": 6}),
        ("integrated_gradients", {}),  # adaptive: each group stops on its own
        ("occlusion", {}),
        ("input_x_gradient", {"aggregate": "word"}),
    ],
)
def test_partial_rows_are_the_final_rows_and_cover_every_target_once(tiny_gpt2, method, options):
    parts: list[PartialResult] = []
    res = attribute(tiny_gpt2, PROMPT, target_text=TARGET, method=method, on_partial=parts.append, **options)
    n = len(res.target_tokens)
    assert n >= 8
    assert len(parts) >= 4
    assert [t for part in parts for t in part.targets] == list(range(n))
    assert all(len(part.targets) <= -(-n // 4) for part in parts)
    assert len(parts[0].targets) <= max(1, n // 8)
    for part in parts:
        assert [t.text for t in part.source_tokens] == [t.text for t in res.source_tokens]
        np.testing.assert_array_equal(part.scores, res.scores[part.targets])
        if res.deltas is None:
            assert part.deltas is None
        else:
            np.testing.assert_array_equal(part.deltas, res.deltas[part.targets])


def test_streaming_changes_no_score(tiny_gpt2):
    plain = attribute(tiny_gpt2, PROMPT, target_text=TARGET, n_steps=6)
    streamed = attribute(tiny_gpt2, PROMPT, target_text=TARGET, n_steps=6, on_partial=lambda part: None)
    scale = float(np.nanmax(np.abs(plain.scores)))
    np.testing.assert_allclose(streamed.scores, plain.scores, rtol=0, atol=1e-6 * scale)
