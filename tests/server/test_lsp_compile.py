"""The compileLayers setting reaches the engine through a real daemon: with it on, an attribution's
decoder layers run compiled and the result says so; with it off again a new request runs eager, and
the repeat of the compiled one is served from the results cache (compileLayers changes speed only,
so it is not part of the key). That compiled scores are eager's within float rounding is checked
for every method in tests/engine/test_compile.py."""

from __future__ import annotations

from lsp_harness import lsp_range
from lsprotocol import types


def test_the_compile_layers_setting_compiles_and_shares_the_cache(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, "def add(a, b):\n    return a + b\n")
    rng = lsp_range((0, 0), (1, 10))
    target = {"kind": "generate", "maxNewTokens": 2}
    daemon.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tokenlight": {"compileLayers": True}})
    )
    try:
        assert daemon.call("tokenlight/status", {})["settings"]["compileLayers"] is True
        compiled = daemon.attribute(uri, rng, target=target, options={"nSteps": 3})
    finally:
        daemon.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"tokenlight": {"compileLayers": None}})
        )
    assert compiled["cached"] is False
    assert any(n.startswith("compile_layers: the 4 decoder layers ran compiled") for n in compiled["notes"])
    assert daemon.call("tokenlight/status", {})["settings"]["compileLayers"] is False
    repeat = daemon.attribute(uri, rng, target=target, options={"nSteps": 3})
    assert repeat["cached"] is True and repeat["scores"] == compiled["scores"]
    eager = daemon.attribute(uri, rng, target=target, options={"nSteps": 4})
    assert eager["cached"] is False
    assert not any(n.startswith("compile_layers") for n in eager["notes"])
