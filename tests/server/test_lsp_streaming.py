"""Streaming over a real LSP connection: ``partialResultToken`` on ``tokenlight/attribute``.

Each ``$/progress`` for the token carries the targets finished since the previous one; together they
are every target once, in order, every row equal to the final answer's, all before the answer; the
first names the source tokens with their document ranges.
"""

from __future__ import annotations

import pytest
from lsp_harness import lsp_range
from pygls.exceptions import JsonRpcException

TEXT = "def add(a, b):\n    return a + b if a else b - a\n"


def test_partial_results_arrive_before_the_answer_and_add_up_to_it(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, TEXT)
    token = f"partial-{uri}"
    result = daemon.attribute(
        uri,
        lsp_range((0, 0), (1, 10)),
        target={"kind": "following", "maxTokens": 12},
        options={"nSteps": 4},
        partialResultToken=token,
    )
    parts = [value for tok, value in daemon.progress if tok == token]  # read at the answer: all came first
    n = len(result["targetTokens"])
    assert n >= 8
    assert len(parts) >= 4, daemon.log_tail()
    assert [t for part in parts for t in part["targets"]] == list(range(n))
    for part in parts:
        for t, row, delta in zip(part["targets"], part["scores"], part["deltas"], strict=True):
            assert row == result["scores"][t]
            assert delta == result["deltas"][t]
    assert parts[0]["sourceTokens"] == result["sourceTokens"]
    assert all("sourceTokens" not in part for part in parts[1:])


def test_a_cached_answer_streams_nothing(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, TEXT)
    params = {"target": {"kind": "following", "maxTokens": 4}, "options": {"nSteps": 3}}
    daemon.attribute(uri, lsp_range((0, 0), (0, 14)), **params)
    token = f"cached-{uri}"
    again = daemon.attribute(uri, lsp_range((0, 0), (0, 14)), partialResultToken=token, **params)
    assert again["cached"]
    assert [value for tok, value in daemon.progress if tok == token] == []


def test_a_bad_partial_result_token_is_invalid_params(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, TEXT)
    with pytest.raises(JsonRpcException, match="partialResultToken"):
        daemon.attribute(uri, lsp_range((0, 0), (0, 14)), partialResultToken=True)
