"""``tokenlight/diff`` over real pipes: the difference B − A of two results a client holds (the
editor's "Compare With Previous"), aligned by token text, computed by the daemon."""

from __future__ import annotations

import math

import pytest
from lsp_harness import lsp_range
from pygls.exceptions import JsonRpcException

INVALID_PARAMS = -32602
BEFORE = "def add(a, b):\n    return a + b\n"
AFTER = "def add(a, b, c):\n    return a + b\n"


def _attribute(daemon, uri, end):
    return daemon.attribute(
        uri,
        lsp_range((0, 0), (0, end)),
        method="saliency",
        target={"kind": "text", "text": "\n    return"},
    )


def test_a_result_against_itself_is_all_zeros(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, BEFORE)
    res = _attribute(daemon, uri, 14)
    d = daemon.call("tokenlight/diff", {"a": res, "b": res})
    assert [t["text"] for t in d["sourceTokens"]] == [t["text"] for t in res["sourceTokens"]]
    assert d["onlyInA"] == {"sources": [], "targets": []} and d["onlyInB"] == {"sources": [], "targets": []}
    assert d["maxAbsDifference"] == 0
    assert all(v in (0, None) for row in d["scores"] for v in row)


def test_an_edited_selection_aligns_by_text_and_lists_the_new_tokens(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, BEFORE)
    a = _attribute(daemon, uri, 14)
    daemon.edit(uri, (0, 12), (0, 12), ", c", AFTER)
    b = _attribute(daemon, uri, 17)
    d = daemon.call("tokenlight/diff", {"a": a, "b": b})
    only_b = [t["text"] for t in d["onlyInB"]["sources"]]
    assert "c" in "".join(only_b)  # the tokens the edit added are listed, not guessed at
    assert d["onlyInA"]["sources"] == []
    # every aligned cell is B − A of the two results, read here independently
    S_a, S_b = len(a["sourceTokens"]), len(b["sourceTokens"])
    columns = [(t["indexA"], t["indexB"]) for t in d["sourceTokens"]] + [
        (S_a + t["indexA"], S_b + t["indexB"]) for t in d["targetTokens"]
    ]
    largest = 0.0
    for r, target in enumerate(d["targetTokens"]):
        for c, (ca, cb) in enumerate(columns):
            va, vb = a["scores"][target["indexA"]][ca], b["scores"][target["indexB"]][cb]
            got = d["scores"][r][c]
            if va is None or vb is None:
                assert got is None
            else:
                assert math.isclose(got, vb - va, rel_tol=1e-12, abs_tol=1e-12)
                largest = max(largest, abs(vb - va))
    assert math.isclose(d["maxAbsDifference"], largest)
    assert d["a"]["method"] == d["b"]["method"] == "saliency"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"a": None, "b": None}, "must be a tokenlight/attribute result"),
        ({"a": {"sourceTokens": [{"text": "x"}], "targetTokens": [], "scores": []}, "b": 3}, "b must be"),
        ({"a": {"sourceTokens": [1], "targetTokens": [], "scores": []}}, "a.sourceTokens"),
        (
            {"a": {"sourceTokens": [{"text": "x"}], "targetTokens": [{"text": "y"}], "scores": [[1.0]]}},
            "must have 2 values",
        ),
        (
            {"a": {"sourceTokens": [{"text": "x"}], "targetTokens": [{"text": "y"}], "scores": [[1.0, "no"]]}},
            "number or null",
        ),
    ],
)
def test_bad_results_are_invalid_params_and_the_daemon_stays_up(daemon, params, needle):
    with pytest.raises(JsonRpcException) as info:
        daemon.call("tokenlight/diff", params)
    assert info.value.code == INVALID_PARAMS and needle in info.value.message, info.value.message
    assert daemon.call("tokenlight/status", {})["busy"] is False
