"""A model folder rewritten on disk is noticed: ``tokenlight/loadModel`` of the same path loads it
again, and the next attribution is computed afresh (not served from the cache) with the new weights."""

from __future__ import annotations

from lsp_harness import Daemon, lsp_range

from model_files import read_element, rewrite_element, save_model

WEIGHT = "transformer.ln_f.weight"  # scales feature 0 of every position's final hidden state


def test_weights_rewritten_on_disk_are_reloaded_and_not_served_from_cache(tiny_gpt2, tmp_path):
    folder = save_model(tiny_gpt2, tmp_path / "model")
    daemon, _ = Daemon.start(tmp_path, tmp_path / "cache")
    try:
        load = {"model": str(folder), "device": "cpu", "dtype": "float32"}
        assert daemon.call("tokenlight/loadModel", load)["name"] == str(folder)
        uri = "file:///tokenlight-tests/reload.py"
        text = "def area(r):\n    return r * r\n"
        daemon.open(uri, text)
        params = {"target": {"kind": "text", "text": " * 3"}, "options": {"nSteps": 4}}
        rng = lsp_range((0, 0), (1, 10))
        first = daemon.attribute(uri, rng, **params)
        assert daemon.attribute(uri, rng, **params)["cached"] is True  # the cache works for this model

        weights = folder / "model.safetensors"
        rewrite_element(weights, WEIGHT, 0, read_element(weights, WEIGHT, 0) * 7)  # same size and header
        daemon.call("tokenlight/loadModel", load)
        after = daemon.attribute(uri, rng, **params)
        assert after["cached"] is False
        assert after["scores"] != first["scores"] and after["targetScores"] != first["targetScores"]
        assert "loading it again" in daemon.log_tail(200)
    finally:
        daemon.close()
