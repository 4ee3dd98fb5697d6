"""Long jobs: progress under the client's token, cancellation between chunks ($/cancelRequest and
window/workDoneProgress/cancel), and light requests answered while a job runs."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsp_harness import lsp_range
from lsprotocol import types
from pygls.exceptions import JsonRpcException

TEXT = "def add(a, b):\n    return a + b\n"
LONG = {"nSteps": 2000, "internalBatchSize": 50}  # 40 small chunks × 4 targets: long, cancellable fast


def _start_job(daemon, uri: str, rng, token: str, *, max_new_tokens: int, options, msg_id=None) -> asyncio.Future:
    """An attribution reporting progress under ``token``, running in the background."""
    params = {
        "textDocument": {"uri": uri},
        "range": rng,
        "target": {"kind": "generate", "maxNewTokens": max_new_tokens},
        "options": options,
        "workDoneToken": token,
    }
    return asyncio.ensure_future(daemon.request("tokenlight/attribute", params, msg_id=msg_id))


async def _wait_for_progress(daemon, token: str, timeout: float = 120.0) -> dict:
    """The first "target k of T" report under ``token`` (the engine is inside the computation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for tok, value in daemon.progress:
            if tok == token and value.get("kind") == "report" and "target" in (value.get("message") or ""):
                return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"no progress report for {token}: {daemon.progress}\n{daemon.log_tail()}")


def test_cancel_request_stops_the_job_and_the_next_one_runs(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, TEXT)
    quick = daemon.attribute(
        uri, lsp_range((0, 0), (0, 14)), target={"kind": "generate", "maxNewTokens": 2}, options={"nSteps": 4}
    )
    token = f"cancel-{uri}"

    async def scenario():
        long_job = _start_job(
            daemon, uri, lsp_range((1, 0), (1, 16)), token, max_new_tokens=4, options=LONG, msg_id="long-job"
        )
        await _wait_for_progress(daemon, token)
        # light requests answer while the worker is busy
        started = time.monotonic()
        status = await daemon.request("tokenlight/status", {})
        hover = await daemon.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(0, 5))
        )
        methods = await daemon.request("tokenlight/methods", {})
        answered_in = time.monotonic() - started
        assert status["busy"] is True and not long_job.done()
        assert hover is not None and "Integrated Gradients" in hover.contents.value
        assert "integrated_gradients" in [m["id"] for m in methods]

        daemon.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-job"))
        cancelled_at = time.monotonic()
        with pytest.raises(JsonRpcException) as info:
            await long_job
        assert info.value.code == -32800  # RequestCancelled
        # VS Code's Cancel also sends the progress cancel, which arrives after the job has ended
        daemon.client.protocol.notify(
            types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token)
        )
        # the next job runs as soon as the engine reaches its next chunk boundary
        after = await daemon.request(
            "tokenlight/attribute",
            {
                "textDocument": {"uri": uri},
                "range": lsp_range((1, 0), (1, 16)),
                "target": {"kind": "generate", "maxNewTokens": 1},
                "options": {"nSteps": 4},
            },
        )
        return answered_in, time.monotonic() - cancelled_at, after

    answered_in, next_done_in, after = daemon.run(scenario())
    print(f"during the job, light requests took {answered_in:.2f} s; the next job ended {next_done_in:.2f} s after")
    assert after["cached"] is False and len(after["targetTokens"]) == 1
    assert daemon.call("tokenlight/status", {})["busy"] is False
    kinds = [value["kind"] for tok, value in daemon.progress if tok == token]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert quick["id"] != after["id"]
    assert "unknown token" not in daemon.log_tail(400)


def test_work_done_progress_cancel_stops_the_job(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, TEXT)
    token = f"progress-cancel-{uri}"

    async def scenario():
        job = _start_job(daemon, uri, lsp_range((0, 0), (1, 16)), token, max_new_tokens=4, options=LONG)
        report = await _wait_for_progress(daemon, token)
        daemon.client.protocol.notify(
            types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token)
        )
        with pytest.raises(JsonRpcException) as info:
            await job
        return report, info.value

    report, error = daemon.run(scenario())
    assert error.code == -32800 and "cancelled" in error.message
    assert report["message"].startswith("target ") and " of 4" in report["message"]
    assert 0 <= report["percentage"] <= 100
    values = [value for tok, value in daemon.progress if tok == token]
    assert values[0]["kind"] == "begin" and values[0]["cancellable"] is True
    assert values[-1] == {"kind": "end", "message": "cancelled"}
    assert daemon.call("tokenlight/status", {})["busy"] is False


def test_progress_begin_reports_and_end(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, TEXT)
    token = f"progress-{uri}"
    daemon.attribute(
        uri,
        lsp_range((0, 0), (1, 16)),
        target={"kind": "generate", "maxNewTokens": 3},
        options={"nSteps": 12, "internalBatchSize": 4},
        workDoneToken=token,
    )
    daemon.settle()
    values = [value for tok, value in daemon.progress if tok == token]
    assert values[0]["kind"] == "begin" and values[0]["title"] == "Tokenlight: attribute"
    assert values[-1] == {"kind": "end", "message": "done"}
    reports = [v for v in values if v["kind"] == "report"]
    assert reports and all(r["message"] == "starting" or r["message"].startswith("target ") for r in reports)
    percentages = [r["percentage"] for r in reports]
    assert percentages == sorted(percentages) and percentages[-1] == 100


def test_a_document_closed_and_reopened_while_its_job_runs_gets_content_modified(daemon, new_uri):
    """Closing the document while its job runs ends the request with ContentModified, even when the
    same text is opened again before the job ends (an editor changing the language mode does that):
    a reopened document starts without results."""
    uri = new_uri()
    daemon.open(uri, TEXT)
    token = f"reopen-{uri}"

    async def scenario():
        options = {"nSteps": 600, "internalBatchSize": 50}
        job = _start_job(daemon, uri, lsp_range((1, 0), (1, 16)), token, max_new_tokens=2, options=options)
        await _wait_for_progress(daemon, token)
        daemon.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
        daemon.open(uri, TEXT)
        with pytest.raises(JsonRpcException) as info:
            await job
        return info.value

    error = daemon.run(scenario())
    assert error.code == -32801, error  # ContentModified
    assert daemon.hover(uri, 1, 5) is None  # nothing stored for the reopened document
