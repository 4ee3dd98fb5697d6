"""The compileLayers setting reaches the engine through a real daemon: with it on, an attribution's
decoder layers run compiled and the result says so; the scores are eager's within float rounding;
turning it off again runs eager."""

from __future__ import annotations

import numpy as np
from lsp_harness import lsp_range
from lsprotocol import types


def _scores(res: dict) -> np.ndarray:
    return np.array(res["scores"], dtype=np.float64)


def test_the_compile_layers_setting_compiles_and_keeps_the_scores(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, "def add(a, b):\n    return a + b\n")
    rng = lsp_range((0, 0), (1, 10))
    request = {"target": {"kind": "generate", "maxNewTokens": 2}, "options": {"nSteps": 3}}
    eager = daemon.attribute(uri, rng, **request)
    daemon.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tokenlight": {"compileLayers": True}})
    )
    try:
        assert daemon.call("tokenlight/status", {})["settings"]["compileLayers"] is True
        compiled = daemon.attribute(uri, rng, **request)
    finally:
        daemon.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"tokenlight": {"compileLayers": None}})
        )
    assert any(n.startswith("compile_layers: the 4 decoder layers ran compiled") for n in compiled["notes"])
    assert not any(n.startswith("compile_layers") for n in eager["notes"])
    a, b = _scores(compiled), _scores(eager)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.nanmax(np.abs(a - b)) <= 2e-5 * np.nanmax(np.abs(b))
    assert daemon.call("tokenlight/status", {})["settings"]["compileLayers"] is False
    again = daemon.attribute(uri, rng, **request)
    assert not any(n.startswith("compile_layers") for n in again["notes"])
