"""Bad input gets a JSON-RPC error a person can act on, and the daemon keeps answering."""

from __future__ import annotations

import pytest
from lsp_harness import lsp_range
from pygls.exceptions import JsonRpcException

TEXT = "def add(a, b):\n    return a + b\n"
INVALID_PARAMS, REQUEST_FAILED = -32602, -32803


def _error(daemon, method: str, params) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as info:
        daemon.call(method, params)
    # whatever went wrong, the daemon still answers
    assert daemon.call("tokenlight/status", {})["busy"] is False
    return info.value


@pytest.fixture
def doc(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, TEXT)
    return uri


def _attribute(uri, rng=None, **extra):
    return {"textDocument": {"uri": uri}, "range": rng or lsp_range((0, 0), (0, 14)), **extra}


def test_unknown_method_lists_the_valid_ones(daemon, doc):
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, method="integrated_gradient"))
    assert err.code == INVALID_PARAMS
    assert "unknown method 'integrated_gradient'" in err.message and "integrated_gradients" in err.message
    assert "saliency" in err.data["validMethods"]


def test_unopened_document_says_open_it_first(daemon):
    err = _error(daemon, "tokenlight/attribute", _attribute("file:///never/opened.py"))
    assert err.code == INVALID_PARAMS and "open it first" in err.message


def test_range_outside_the_document_or_reversed(daemon, doc):
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, lsp_range((0, 0), (7, 0))))
    assert err.code == INVALID_PARAMS and "past the end of the document (2 lines)" in err.message
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, lsp_range((0, 0), (0, 40))))
    assert "line 0 has 14 characters" in err.message
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, lsp_range((1, 4), (0, 2))))
    assert "before it starts" in err.message and "swap start and end" in err.message
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, {"start": {"line": -1, "character": 0}}))
    assert "line must be a whole number" in err.message


def test_malformed_params_name_what_was_expected(daemon, doc):
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, target={"kind": "continue"}))
    assert "'generate', 'text', 'following'" in err.message
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, options={"nSteps": "many"}))
    assert "options.nSteps must be a whole number" in err.message
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, options={"steps": 3}))
    assert "unknown option(s) 'steps'" in err.message and "nSteps" in err.message
    err = _error(daemon, "tokenlight/attribute", {"textDocument": {"uri": doc}})
    assert "'range' is required" in err.message
    err = _error(daemon, "tokenlight/attribute", [1, 2])
    assert "expected an object" in err.message
    err = _error(daemon, "tokenlight/focus", {"id": "r999999", "target": 0})
    assert "no result 'r999999'" in err.message


def test_following_with_nothing_after_the_selection(daemon, doc):
    err = _error(
        daemon, "tokenlight/attribute", _attribute(doc, lsp_range((0, 0), (2, 0)), target={"kind": "following"})
    )
    assert "nothing follows it" in err.message


def test_engine_input_errors_pass_through(daemon, doc):
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, options={"baseline": "bogus", "nSteps": 2}))
    assert err.code == INVALID_PARAMS and "unknown baseline 'bogus'" in err.message
    assert err.data == {"kind": "InputError"}
    err = _error(daemon, "tokenlight/attribute", _attribute(doc, options={"stepFunction": "logit_diff", "nSteps": 2}))
    assert "needs a contrast token" in err.message


def test_selection_longer_than_the_context(daemon, new_uri):
    uri = new_uri()
    long_text = "x = [" + ", ".join(str(i) for i in range(400)) + "]\n"
    daemon.open(uri, long_text)
    err = _error(daemon, "tokenlight/attribute", _attribute(uri, lsp_range((0, 0), (0, len(long_text) - 1))))
    assert err.code == INVALID_PARAMS
    assert "tokens; tokenlight-tiny-py accepts 512" in err.message and "select less text" in err.message


def test_model_not_found(daemon, doc, tmp_path):
    missing = str(tmp_path / "no-such-model")
    err = _error(daemon, "tokenlight/loadModel", {"model": missing})
    assert err.code == REQUEST_FAILED and err.data == {"kind": "ModelNotFoundError"}
    assert f"no model folder at {missing}" in err.message
    # a failed load leaves the default model in place
    assert daemon.call("tokenlight/status", {})["settings"]["model"] is None
    err = _error(daemon, "tokenlight/loadModel", {})
    assert "'model' is required" in err.message


def test_unknown_request_and_bad_notification_do_not_stop_the_daemon(daemon):
    with pytest.raises(JsonRpcException) as info:
        daemon.call("tokenlight/nope", {})
    assert info.value.code == -32601
    daemon.client.protocol.notify("textDocument/didChange", {"textDocument": {"uri": 3}})
    daemon.settle(0.2)
    assert "integrated_gradients" in [m["id"] for m in daemon.call("tokenlight/methods", {})]


def test_out_of_memory_is_a_clear_error(monkeypatch):
    """The engine's final out-of-memory failure becomes a RequestFailed error (in-process: no
    machine here can be made to run out of GPU memory on demand)."""
    import torch

    import tokenlight.engine
    from tokenlight.cache import ResultCache
    from tokenlight.server.jobs import AttributionJob, ModelRequest
    from tokenlight.server.protocol import AttributeOptions, TargetSpec
    from tokenlight.server.runner import Runner

    released: list[str] = []

    class FakeModel:
        name, dtype_name, identity = "big-model", "bfloat16", "f" * 64
        device = torch.device("cpu")

        def release_cached_memory(self) -> None:
            released.append(self.name)

        def files_changed(self) -> bool:
            return False

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(tokenlight.engine, "attribute", out_of_memory)
    runner = Runner(ResultCache(max_bytes=0))
    request = ModelRequest(None)
    runner.lm, runner.loaded, runner.info = FakeModel(), request, object()
    options = AttributeOptions(n_steps=4, baseline="zero", step_function="logit")
    job = AttributionJob(request, "x", TargetSpec("generate", max_new_tokens=2), "integrated_gradients", options)
    with pytest.raises(JsonRpcException) as info:
        runner.attribute(job, lambda message, percentage: None, lambda: False)
    assert info.value.code == REQUEST_FAILED and info.value.data == {"kind": "OutOfMemory"}
    assert "out of memory" in info.value.message and "select less text" in info.value.message
    assert released == ["big-model"]  # the allocator's cache handed back before the next request
