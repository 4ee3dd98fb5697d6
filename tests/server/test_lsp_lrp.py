"""LRP / AttnLRP through the language server: listed, run, explained, and refused where they do not apply."""

from __future__ import annotations

import math

import pytest
from lsp_harness import lsp_range
from pygls.exceptions import JsonRpcException

SOURCE = "def area(width, height):\n    return width * height\n"
INVALID_PARAMS = -32602


def test_methods_list_the_propagation_methods(daemon):
    listed = {m["id"]: m for m in daemon.call("tokenlight/methods", {})}
    for method_id in ("lrp", "attnlrp"):
        method = listed[method_id]
        assert method["family"] == "propagation" and method["convergenceDelta"] is True
        assert method["usesBaseline"] is False and "GPT-2 and Llama-style models only" in method["description"]


@pytest.mark.parametrize("method", ["lrp", "attnlrp"])
def test_attribution_with_delta_against_the_logit(daemon, new_uri, method):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    res = daemon.attribute(
        uri,
        lsp_range((0, 0), (1, 10)),
        method=method,
        target={"kind": "text", "text": " width * height"},
    )
    assert res["method"] == method and res["baselineScores"] is None
    for row, delta, logit in zip(res["scores"], res["deltas"], res["targetScores"], strict=True):
        relevance = sum(v for v in row if v is not None)
        assert math.isclose(relevance - logit, delta, rel_tol=1e-3, abs_tol=1e-3)
    hover = daemon.hover(uri, 1, 6).contents.value  # " return"
    assert f"**{'LRP' if method == 'lrp' else 'AttnLRP'}**" in hover and "baseline" not in hover
    assert "| target's delta |" in hover and "| — |" not in hover  # every target row shows its delta


def test_probability_step_function_is_refused_and_the_daemon_goes_on(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    params = {
        "textDocument": {"uri": uri},
        "range": lsp_range((0, 0), (1, 10)),
        "method": "attnlrp",
        "options": {"stepFunction": "probability"},
    }
    with pytest.raises(JsonRpcException) as info:
        daemon.call("tokenlight/attribute", params)
    assert info.value.code == INVALID_PARAMS and "logit or logit_diff" in info.value.message
    params["options"] = {"stepFunction": "logit"}
    assert daemon.call("tokenlight/attribute", params)["method"] == "attnlrp"
