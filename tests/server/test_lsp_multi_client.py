"""Remote mode with several clients at once: one real daemon over TCP (a subprocess), real pygls
LanguageClients on real sockets.

Each connection is its own session (documents, results, settings, login); every session shares the
one worker: jobs run one at a time in the order they arrived, whichever client sent them. What is
checked: two clients' interleaved requests are all answered, each with its own document's text and
its own model, in arrival order, one job at a time (the daemon reports each job's number and times);
a client that disconnects mid-job cancels only its own jobs; the login deadline is per connection.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from lsp_harness import listening, lsp_range, make_client, text_at
from lsprotocol import types
from pygls.exceptions import JsonRpcException

TOKEN = "multi-client-token"
LOGIN_TIMEOUT_S = 4.0
LONG = {"nSteps": 2000, "internalBatchSize": 50}  # many small chunks: long, and cancellable fast
QUICK = {"target": {"kind": "generate", "maxNewTokens": 1}, "method": "saliency"}

TEXT_A = "def add(a, b):\n    return a + b\n"
TEXT_B = "class Stack:\n    def push(self, item):\n"
# the same URI opened by both clients with different text: each session has its own copy
SHARED = "file:///multi-client/shared.py"
SHARED_A = "alpha = 1\nbeta = 2\n"
SHARED_B = "zeta = 26\ntheta = 8\n"


# ----------------------------------------------------------------------------------------------
# the daemon


class Listening:
    def __init__(self, process: subprocess.Popen, port: int, log_file: Path, model_b: str) -> None:
        self.process = process
        self.port = port
        self.log_file = log_file
        self.model_b = model_b

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2) -> Listening:
    """``tokenlight serve --tcp 127.0.0.1:0 --token ...`` and a second model (a tiny GPT-2 in a folder)
    for the client whose settings name it."""
    tmp = tmp_path_factory.mktemp("multi-client")
    model_b = tmp / "tiny-model-b"
    tiny_gpt2.model.save_pretrained(model_b)
    tiny_gpt2.tokenizer.save_pretrained(model_b)
    log_file, stderr_file = tmp / "daemon.log", tmp / "stderr.txt"
    env = dict(os.environ, TOKENLIGHT_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    env.pop("TOKENLIGHT_TOKEN", None)
    command = [sys.executable, "-m", "tokenlight.server", "--tcp", "127.0.0.1:0", "--token", TOKEN]
    command += ["--login-timeout", str(LOGIN_TIMEOUT_S), "--log-file", str(log_file), "--log-level", "debug"]
    command += ["--model-root", str(tmp)]  # remote clients load models only from allowed folders
    with listening(command, stderr_file, env, r"listening on tcp://127\.0\.0\.1:(\d+)") as (process, match):
        yield Listening(process, int(match.group(1)), log_file, str(model_b))


# ----------------------------------------------------------------------------------------------
# a client


class Client:
    """One pygls LanguageClient over TCP, recording what the daemon sent it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = make_client()
        self.texts: dict[str, str] = {}
        self.published: list[str] = []  # URIs of every publishDiagnostics received
        self.progress: list[tuple[Any, dict[str, Any]]] = []

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _diagnostics(params: types.PublishDiagnosticsParams) -> None:
            self.published.append(params.uri)

        @self.client.feature(types.PROGRESS)
        def _progress(params: types.ProgressParams) -> None:
            value = params.value
            self.progress.append((params.token, value if isinstance(value, dict) else value._asdict()))

    async def connect(self, port: int, settings: dict[str, Any] | None = None, token: str | None = TOKEN) -> None:
        await self.client.start_tcp("127.0.0.1", port)
        options: dict[str, Any] = {"token": token, **(settings or {})}
        await self.client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options)
        )
        self.client.initialized(types.InitializedParams())

    async def request(self, method: str, params: Any = None, msg_id: str | None = None) -> Any:
        return await self.client.protocol.send_request_async(method, params, msg_id=msg_id)

    async def status(self) -> dict[str, Any]:
        return await self.request("tokenlight/status", {})

    def open(self, uri: str, text: str) -> None:
        self.texts[uri] = text
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )

    def attribute(self, uri: str, line: int, **extra: Any) -> asyncio.Future[Any]:
        """Send ``tokenlight/attribute`` for the whole of ``line`` (without its line break)."""
        text = self.texts[uri].split("\n")[line]
        msg_id = extra.pop("msg_id", None)
        params = {"textDocument": {"uri": uri}, "range": lsp_range((line, 0), (line, len(text))), **QUICK, **extra}
        return asyncio.ensure_future(self.request("tokenlight/attribute", params, msg_id=msg_id))

    def selection(self, uri: str, line: int) -> str:
        return self.texts[uri].split("\n")[line]

    async def closed(self, timeout: float = 15.0) -> bool:
        """True when the daemon has hung up on this client (its reader loop ended)."""
        done, _ = await asyncio.wait(self.client._async_tasks, timeout=timeout)
        return bool(done)

    async def leave(self) -> None:
        """shutdown + exit, as an editor does when it closes."""
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.closed()
        await self.client.stop()

    async def drop(self) -> None:
        """Hang up without a word (a crash, a closed laptop lid)."""
        self.client.protocol.writer.close()
        await self.closed()
        await self.client.stop()


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def queued_mine(client: Client, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        status = await client.status()
        return sum(1 for job in status["jobs"] if job["mine"] and job["state"] == "queued") >= n

    return check


def running_report(client: Client, token: str) -> Callable[[], Awaitable[bool]]:
    """The engine is inside the job reporting under ``token`` ("target k of T")."""

    async def check() -> bool:
        return any(
            tok == token and value.get("kind") == "report" and "target" in (value.get("message") or "")
            for tok, value in client.progress
        )

    return check


def run(coroutine: Awaitable[Any], timeout: float = 300.0) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def sources(result: dict[str, Any]) -> str:
    return "".join(t["text"] for t in result["sourceTokens"] if not t["special"])


# ----------------------------------------------------------------------------------------------


def test_two_clients_interleaved_requests_are_all_answered_in_arrival_order(remote: Listening) -> None:
    """Clients A (embedded model) and B (another model, named in its settings) each queue three
    requests, interleaved A, B, A, B, A, B behind a long job of A's; then the long job is cancelled.
    Every request is answered, each with its own document's text and its own model, and the daemon
    ran them one at a time in exactly that order."""
    a, b = Client("A"), Client("B")

    async def scenario() -> dict[str, Any]:
        await a.connect(remote.port, {"maxNewTokens": 1})
        await b.connect(remote.port, {"maxNewTokens": 1, "model": remote.model_b})
        await until(lambda: _sessions_at_least(a, 2), "both sessions")
        a.open("file:///multi-client/a.py", TEXT_A)
        a.open(SHARED, SHARED_A)
        b.open("file:///multi-client/b.py", TEXT_B)
        b.open(SHARED, SHARED_B)

        blocker = a.attribute(
            "file:///multi-client/a.py",
            0,
            target={"kind": "generate", "maxNewTokens": 4},
            method="integrated_gradients",
            options=LONG,
            workDoneToken="blocker",
            msg_id="blocker",
        )
        await until(running_report(a, "blocker"), "A's long job to run")

        plan = [
            (a, "file:///multi-client/a.py", 0),
            (b, "file:///multi-client/b.py", 0),
            (a, SHARED, 0),
            (b, SHARED, 0),
            (a, "file:///multi-client/a.py", 1),
            (b, SHARED, 1),
        ]
        sent: list[tuple[Client, str, int, asyncio.Future[Any]]] = []
        mine = {a: 0, b: 0}
        for client, uri, line in plan:
            sent.append((client, uri, line, client.attribute(uri, line)))
            mine[client] += 1
            await until(queued_mine(client, mine[client]), f"{client.name}'s job {mine[client]} to be queued")
        seen_by_a, seen_by_b = await a.status(), await b.status()

        a.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="blocker"))
        with pytest.raises(JsonRpcException) as cancelled:
            await blocker
        answers = [await future for *_, future in sent]

        hover_elsewhere = await a.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier("file:///multi-client/b.py"), types.Position(0, 2))
        )
        final = await until(lambda: _idle(b), "the worker to be idle")
        await a.leave()  # exit ends A's connection only: B goes on
        after_a_left = await until(lambda: _sessions_exactly(b, 1), "A's session to end")
        one_more = await b.attribute("file:///multi-client/b.py", 1)
        await b.leave()
        return {
            "sent": sent,
            "answers": answers,
            "cancelled": cancelled.value,
            "seen_by_a": seen_by_a,
            "seen_by_b": seen_by_b,
            "hover_elsewhere": hover_elsewhere,
            "final": final,
            "after_a_left": after_a_left,
            "one_more": one_more,
        }

    out = run(scenario())
    assert out["cancelled"].code == -32800  # the blocker, cancelled by its own client

    # the shared queue as each client saw it: the blocker running, then A, B, A, B, A, B
    for status, me in ((out["seen_by_a"], True), (out["seen_by_b"], False)):
        assert status["sessions"] == 2 and status["busy"] is True and status["queue"] == 6
        states = [(job["state"], job["mine"]) for job in status["jobs"]]
        assert states == [("running", me)] + [("queued", me), ("queued", not me)] * 3

    answers = out["answers"]
    assert len(answers) == 6  # none lost
    for (client, uri, line, _), result in zip(out["sent"], answers, strict=True):
        # each client's own text (SHARED holds different text in each session) and its own model
        assert sources(result) == client.selection(uri, line)
        expected_model = "tokenlight-tiny-py" if client is a else remote.model_b
        assert result["model"]["name"] == expected_model
        assert result["method"] == "saliency" and len(result["targetTokens"]) == 1
        source = next(t for t in result["sourceTokens"] if not t["special"])
        assert text_at(client.texts[uri], source["range"]) == source["text"]

    # arrival order = the order sent; each job started after the previous one finished
    jobs = [result["job"] for result in answers]
    ids = [job["id"] for job in jobs]
    assert ids == sorted(ids) and len(set(ids)) == 6
    for earlier, later in itertools.pairwise(jobs):
        assert later["startedMs"] >= earlier["finishedMs"], (earlier, later)
    print("jobs in order:", [(j["id"], round(j["startedMs"]), round(j["finishedMs"])) for j in jobs])

    # each client heard only about its own documents
    assert set(a.published) == {"file:///multi-client/a.py", SHARED}
    assert set(b.published) == {"file:///multi-client/b.py", SHARED}
    assert out["hover_elsewhere"] is None  # b.py is not A's document
    assert out["final"]["jobs"] == [] and out["final"]["queue"] == 0
    assert out["after_a_left"]["sessions"] == 1
    assert sources(out["one_more"]) == b.selection("file:///multi-client/b.py", 1)
    assert remote.process.poll() is None


def test_a_client_that_disconnects_mid_job_cancels_only_its_own_jobs(remote: Listening) -> None:
    """A runs a long job and queues another; B queues one behind them; A hangs up. A's jobs are
    cancelled (the running one at its next chunk, the waiting one skipped); B's is answered, and
    the listener takes new clients."""
    a, b, c = Client("A"), Client("B"), Client("C")

    async def scenario() -> dict[str, Any]:
        await a.connect(remote.port)
        await b.connect(remote.port)
        a.open("file:///multi-client/drop-a.py", TEXT_A)
        b.open("file:///multi-client/drop-b.py", TEXT_B)
        a.attribute(
            "file:///multi-client/drop-a.py",
            1,
            target={"kind": "generate", "maxNewTokens": 4},
            method="integrated_gradients",
            options=LONG,
            workDoneToken="long",
        )
        await until(running_report(a, "long"), "A's long job to run")
        a.attribute("file:///multi-client/drop-a.py", 0, options={"nSteps": 7})
        await until(queued_mine(a, 1), "A's second job to be queued")
        b_job = b.attribute("file:///multi-client/drop-b.py", 0)
        await until(queued_mine(b, 1), "B's job to be queued")
        queued = await b.status()

        dropped_at = time.monotonic()
        await a.drop()
        answer = await b_job
        answered_in = time.monotonic() - dropped_at
        status = await until(lambda: _sessions_exactly(b, 1), "A's session to end")
        await c.connect(remote.port)  # the listener is still there
        methods = await c.request("tokenlight/methods", {})
        await c.leave()
        await b.leave()
        return {"queued": queued, "answer": answer, "answered_in": answered_in, "status": status, "methods": methods}

    out = run(scenario())
    print(f"B answered {out['answered_in']:.2f} s after A hung up")
    assert [(job["state"], job["mine"]) for job in out["queued"]["jobs"]] == [
        ("running", False),
        ("queued", False),
        ("queued", True),
    ]
    answer = out["answer"]
    assert sources(answer) == b.selection("file:///multi-client/drop-b.py", 0)
    assert answer["cached"] in (True, False) and answer["job"]["finishedMs"] >= answer["job"]["startedMs"]
    assert out["status"]["busy"] is False and out["status"]["jobs"] == []
    assert "integrated_gradients" in [m["id"] for m in out["methods"]]
    ended = re.findall(r"session (\d+) ended: (\d+) request\(s\) cancelled, (\d+) job\(s\) cancelled", remote.log())
    assert any(requests == "2" and jobs == "2" for _, requests, jobs in ended), ended  # A's two, not B's
    skipped = re.findall(r"job (\d+) \(attribute, session (\d+)\) was cancelled while it waited", remote.log())
    assert skipped, "A's waiting job was skipped"
    assert remote.process.poll() is None


def test_login_deadline_and_token_are_per_connection(remote: Listening) -> None:
    """A connection that never logs in is closed at its deadline; one with a wrong token at once;
    a logged-in client beside them is untouched."""
    idle, wrong, good = Client("idle"), Client("wrong"), Client("good")

    async def scenario() -> dict[str, Any]:
        await idle.client.start_tcp("127.0.0.1", remote.port)
        connected_at = time.monotonic()
        await good.connect(remote.port)
        with pytest.raises(JsonRpcException) as refused:
            await wrong.connect(remote.port, token="not-it")
        wrong_closed = await wrong.closed()
        idle_closed = await idle.closed(timeout=LOGIN_TIMEOUT_S + 15)
        idle_after = time.monotonic() - connected_at
        status = await good.status()
        await good.leave()
        await idle.client.stop()
        await wrong.client.stop()
        return {
            "refused": refused.value,
            "wrong_closed": wrong_closed,
            "idle_closed": idle_closed,
            "idle_after": idle_after,
            "status": status,
        }

    out = run(scenario())
    assert out["refused"].code == -32001 and out["wrong_closed"] is True
    assert out["idle_closed"] is True and out["idle_after"] >= LOGIN_TIMEOUT_S - 0.5
    assert out["status"]["sessions"] >= 1 and out["status"]["settings"]["maxNewTokens"] == 8
    assert "did not log in within 4 s" in remote.log()


# ----------------------------------------------------------------------------------------------


async def _sessions_at_least(client: Client, n: int) -> dict[str, Any] | None:
    status = await client.status()
    return status if status["sessions"] >= n else None


async def _sessions_exactly(client: Client, n: int) -> dict[str, Any] | None:
    status = await client.status()
    return status if status["sessions"] == n else None


async def _idle(client: Client) -> dict[str, Any] | None:
    status = await client.status()
    return status if not status["busy"] and not status["jobs"] else None
