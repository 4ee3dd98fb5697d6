"""Start-up without torch, capabilities, methods, status, settings, loadModel and another encoding."""

from __future__ import annotations

from lsp_harness import Daemon, lsp_range
from lsprotocol import types


def test_initialize_imports_no_torch_and_announces_features(daemon):
    startup = daemon.call("tokenlight/status", {})["startup"]
    print(f"initialize answered {startup['initializeMs']} ms after the server object was built")
    assert startup["torchImportedAtInitialize"] is False
    caps = daemon.init_result.capabilities
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    assert caps.hover_provider and caps.inlay_hint_provider
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert daemon.init_result.server_info.name == "tokenlight"


def test_methods_are_describe_dicts(daemon):
    methods = daemon.call("tokenlight/methods", {})
    by_id = {m["id"]: m for m in methods}
    assert {"integrated_gradients", "saliency", "input_x_gradient"} <= set(by_id)
    ig = by_id["integrated_gradients"]
    assert ig["label"] == "Integrated Gradients" and ig["convergenceDelta"] is True and ig["usesBaseline"] is True
    assert set(ig) == {
        "id", "label", "summary", "description", "family", "convergenceDelta", "usesBaseline", "parameters",
        "budget", "usesStepFunction", "caveat", "spans", "supportsLayer",
    }  # fmt: skip
    assert (
        ig["budget"] == "steps"
        and by_id["gradient_shap"]["budget"] == "samples"
        and by_id["saliency"]["budget"] is None
    )
    assert by_id["attention"]["usesStepFunction"] is False and ig["usesStepFunction"] is True
    # DeepLift's rules do not hold on transformers: the pickers say so beside the method
    assert "transformers" in by_id["deeplift"]["caveat"] and "transformers" in by_id["deeplift_shap"]["caveat"]
    assert ig["caveat"] is None


def test_status_reports_model_memory_queue_and_cache(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, "import os\n")
    daemon.attribute(
        uri, lsp_range((0, 0), (0, 9)), target={"kind": "generate", "maxNewTokens": 1}, options={"nSteps": 2}
    )
    status = daemon.call("tokenlight/status", {})
    assert (status["model"], status["device"], status["dtype"]) == ("tokenlight-tiny-py", "cpu", "float32")
    assert status["memory"] > 50 * 1024 * 1024  # the process RSS with torch and the model resident
    assert status["busy"] is False and status["queue"] == 0
    assert status["cache"]["entries"] >= 1 and status["cache"]["hits"] >= 0
    assert status["engineImported"] is True


def test_did_change_configuration_sets_defaults(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, "def add(a, b):\n    return a + b\n")
    daemon.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"tokenlight": {"maxNewTokens": 2, "nSteps": 3, "method": "saliency", "colorScheme": "x"}}
        )
    )
    try:
        res = daemon.attribute(uri, lsp_range((0, 0), (0, 14)))
        assert res["method"] == "saliency" and len(res["targetTokens"]) == 2 and res["deltas"] is None
        settings = daemon.call("tokenlight/status", {})["settings"]
        assert (settings["maxNewTokens"], settings["nSteps"], settings["method"]) == (2, 3, "saliency")
        # a bad value is reported and ignored; the rest still applies
        daemon.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"tokenlight": {"nSteps": "lots", "maxNewTokens": 1}})
        )
        daemon.settle()
        assert any("tokenlight.nSteps must be a whole number" in m.message for m in daemon.messages)
        settings = daemon.call("tokenlight/status", {})["settings"]
        assert (settings["maxNewTokens"], settings["nSteps"]) == (1, 3)
    finally:
        daemon.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"tokenlight": {"maxNewTokens": None, "nSteps": None, "method": None}}
            )
        )
    assert daemon.call("tokenlight/status", {})["settings"]["method"] == "integrated_gradients"


def test_utf8_encoding_initialization_options_and_load_model_progress(tmp_path, cache_dir):
    """A client that offers UTF-8 first gets it; initializationOptions set defaults; loadModel
    reports "loading model" under its token."""
    capabilities = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16]
        )
    )
    d, result = Daemon.start(
        tmp_path, cache_dir, capabilities=capabilities, initialization_options={"maxNewTokens": 1, "nSteps": 2}
    )
    try:
        assert result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
        loaded = d.call("tokenlight/loadModel", {"model": None, "device": "cpu", "workDoneToken": "load"})
        assert loaded["name"] == "tokenlight-tiny-py" and loaded["device"] == "cpu"
        assert loaded["parameters"] > 1_000_000 and loaded["contextLength"] == 512
        d.settle()
        messages = [v.get("message") for tok, v in d.progress if tok == "load"]
        assert "loading model tokenlight-tiny-py" in messages

        text = 's = "é😋字"\n'
        uri = "file:///utf8/doc.py"
        d.open(uri, text)
        end = len(text[:-1].encode("utf-8"))
        res = d.attribute(uri, lsp_range((0, 0), (0, end)))
        assert len(res["targetTokens"]) == 1 and res["nSteps"] == 2
        encoded = text.encode("utf-8")
        for tok in res["sourceTokens"][1:]:
            rng = tok["range"]
            assert encoded[rng["start"]["character"] : rng["end"]["character"]].decode() == tok["text"]
        emoji = next(t for t in res["sourceTokens"] if t["text"] == "😋")
        assert emoji["range"]["end"]["character"] - emoji["range"]["start"]["character"] == 4
    finally:
        d.close()
