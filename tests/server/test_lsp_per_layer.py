"""The per-layer view through the language server: option perLayer in, perLayer in the result."""

from __future__ import annotations

import math

import pytest
from lsp_harness import lsp_range
from pygls.exceptions import JsonRpcException

SOURCE = "def area(width, height):\n    return width * height\n"
INVALID_PARAMS = -32602


def test_per_layer_view_comes_back_with_the_result(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    res = daemon.attribute(
        uri,
        lsp_range((0, 0), (1, 10)),
        method="input_x_gradient",
        target={"kind": "text", "text": " width * height"},
        options={"perLayer": -1, "nSteps": 16},
    )
    view = res["perLayer"]
    n_targets, width = len(res["targetTokens"]), len(res["sourceTokens"]) + len(res["targetTokens"])
    assert view["target"] == n_targets - 1
    assert len(view["scores"]) == len(view["deltas"]) == 4  # the embedded model's 4 blocks
    visible = len(res["sourceTokens"]) + view["target"]
    for row, delta in zip(view["scores"], view["deltas"], strict=True):
        assert len(row) == width
        assert all(v is not None for v in row[:visible]) and all(v is None for v in row[visible:])
        assert math.isfinite(delta)
    plain = daemon.attribute(uri, lsp_range((0, 0), (1, 10)), method="input_x_gradient",
                             target={"kind": "text", "text": " width * height"})  # fmt: skip
    assert plain["perLayer"] is None


def test_a_per_layer_target_out_of_range_is_invalid_params_and_the_daemon_goes_on(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    params = {
        "textDocument": {"uri": uri},
        "range": lsp_range((0, 0), (1, 10)),
        "method": "saliency",
        "target": {"kind": "text", "text": " width"},
        "options": {"perLayer": 3},
    }
    with pytest.raises(JsonRpcException) as info:
        daemon.call("tokenlight/attribute", params)
    assert info.value.code == INVALID_PARAMS and "per_layer target 3 does not exist" in info.value.message
    params["options"] = {}
    assert daemon.call("tokenlight/attribute", params)["method"] == "saliency"
