"""Hostile clients against a real remote daemon (a subprocess), over real TCP and WebSocket sockets.

Each daemon is started the way a user would start it, ``tokenlight serve --tcp|--ws 127.0.0.1:0``
with no token: it must generate one and keep it in a 0600 file, which the rightful client reads.
That client connects first and stays connected while the hostile ones try: no token, a wrong one,
one in the wrong field, requests before ``initialize``, malformed and oversized messages, browser
origins and rebound Host names, and model paths that probe the file system. Each is refused, and
the rightful client is still served afterwards.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lsp_harness import listening, make_client
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

ALLOWED_ORIGIN = "https://notebook.example"
UNAUTHORIZED, NOT_INITIALIZED, REQUEST_FAILED = -32001, -32002, -32803


@dataclass
class Remote:
    process: subprocess.Popen
    kind: str
    port: int
    stderr_file: Path
    runtime: Path
    models: Path  # the one --model-root
    outside: Path  # a real model folder outside every root

    def token_file(self) -> Path:
        return self.runtime / "tokenlight" / f"daemon-{self.port}.json"

    def token(self) -> str:
        return json.loads(self.token_file().read_text())["token"]

    def stderr(self) -> str:
        return self.stderr_file.read_text(errors="replace")


def _start(tmp: Path, kind: str, tiny_gpt2) -> Iterator[Remote]:
    models, outside, runtime = tmp / "models", tmp / "outside", tmp / "run"
    for folder in (models / "tiny", outside / "tiny"):
        tiny_gpt2.model.save_pretrained(folder)
        tiny_gpt2.tokenizer.save_pretrained(folder)
    runtime.mkdir()
    env = dict(os.environ, TOKENLIGHT_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    env.update(XDG_RUNTIME_DIR=str(runtime))
    env.pop("TOKENLIGHT_TOKEN", None)
    command = [sys.executable, "-m", "tokenlight.server", f"--{kind}", "127.0.0.1:0", "--model-root", str(models)]
    command += ["--allow-origin", ALLOWED_ORIGIN, "--log-file", str(tmp / "daemon.log")]
    pattern = rf"listening on {kind}://127\.0\.0\.1:(\d+)[\s\S]*token saved in"
    with listening(command, tmp / "stderr.txt", env, pattern, cwd=tmp) as (process, match):
        yield Remote(process, kind, int(match.group(1)), tmp / "stderr.txt", runtime, models, outside / "tiny")


@pytest.fixture(scope="module")
def tcp(tmp_path_factory, tiny_gpt2) -> Iterator[Remote]:
    yield from _start(tmp_path_factory.mktemp("security-tcp"), "tcp", tiny_gpt2)


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_gpt2) -> Iterator[Remote]:
    yield from _start(tmp_path_factory.mktemp("security-ws"), "ws", tiny_gpt2)


# ----------------------------------------------------------------------------------------------
# clients


async def _connect(remote: Remote) -> LanguageClient:
    client = make_client()
    if remote.kind == "tcp":
        await client.start_tcp("127.0.0.1", remote.port)
    else:
        await client.start_ws("127.0.0.1", remote.port)
    return client


async def _initialize(client: LanguageClient, options: Any) -> types.InitializeResult:
    return await client.initialize_async(
        types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options)
    )


async def _closed_by_server(client: LanguageClient) -> bool:
    """True when the daemon hung up on this client (the client's reader loop ended)."""
    done, _ = await asyncio.wait(client._async_tasks, timeout=15)
    return bool(done)


async def _rightful(remote: Remote) -> LanguageClient:
    client = await _connect(remote)
    await _initialize(client, {"token": remote.token()})
    client.initialized(types.InitializedParams())
    return client


async def _leave(client: LanguageClient) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await _closed_by_server(client)
    await client.stop()


async def _status(client: LanguageClient) -> dict[str, Any]:
    return await client.protocol.send_request_async("tokenlight/status", {})


async def _refused_login(remote: Remote, options: Any) -> tuple[JsonRpcException, bool]:
    client = await _connect(remote)
    try:
        with pytest.raises(JsonRpcException) as info:
            await _initialize(client, options)
        return info.value, await _closed_by_server(client)
    finally:
        await client.stop()


async def _logins(remote: Remote) -> dict[str, Any]:
    """Every wrong way to log in, with the rightful client connected throughout."""
    rightful = await _rightful(remote)
    token = remote.token()
    seen: dict[str, Any] = {}
    for name, options in {
        "no token": None,
        "empty options": {},
        "wrong token": {"token": "x" * len(token)},
        "prefix of the token": {"token": token[:-1]},
        "token as a number": {"token": 12345},
        "token in the settings section": {"tokenlight": {"token": token}},
        "token under another name": {"Token": token, "serverToken": token},
    }.items():
        seen[name] = await _refused_login(remote, options)
        seen[f"status after {name}"] = await _status(rightful)

    # requests (and a document) before initialize: refused, nothing done for them
    early = await _connect(remote)
    early.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem("file:///early.py", "python", 1, "secret = 1\n"))
    )
    for method in ("tokenlight/status", "tokenlight/methods", "tokenlight/loadModel"):
        with pytest.raises(JsonRpcException) as info:
            await early.protocol.send_request_async(method, {"model": "/etc"})
        seen[f"before initialize: {method}"] = info.value
    closing = early.protocol.writer.close()  # a coroutine over WebSocket, None over TCP
    if inspect.isawaitable(closing):
        await closing
    await _closed_by_server(early)
    await early.stop()
    seen["status at the end"] = await _status(rightful)
    await _leave(rightful)
    return seen


@pytest.mark.parametrize("kind", ["tcp", "ws"])
def test_only_the_generated_token_logs_in(kind, request):
    remote: Remote = request.getfixturevalue(kind)
    seen = asyncio.run(asyncio.wait_for(_logins(remote), 180))
    wrong = [name for name in seen if not name.startswith(("status", "before"))]
    assert len(wrong) == 7
    for name in wrong:
        error, closed = seen[name]
        assert error.code == UNAUTHORIZED and "initializationOptions.token" in error.message, name
        assert closed, f"{name}: the connection stayed open after a failed login"
        assert seen[f"status after {name}"]["sessions"] >= 1  # the rightful client is still served
    for method in ("tokenlight/status", "tokenlight/methods", "tokenlight/loadModel"):
        error = seen[f"before initialize: {method}"]
        assert error.code == NOT_INITIALIZED and "initialize first" in error.message
    assert seen["status at the end"]["version"]
    assert "rejected a connection: wrong token" in (remote.stderr_file.parent / "daemon.log").read_text()


@pytest.mark.parametrize("kind", ["tcp", "ws"])
def test_generated_token_is_long_private_and_printed_once(kind, request):
    remote: Remote = request.getfixturevalue(kind)
    path = remote.token_file()
    saved = json.loads(path.read_text())
    assert saved["url"] == f"{kind}://127.0.0.1:{remote.port}" and saved["pid"] == remote.process.pid
    token = saved["token"]
    assert len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # 32 random bytes, url-safe base64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = remote.stderr().splitlines()
    assert [i for i, line in enumerate(lines) if token in line] == [1]  # the line after "listening on"
    assert str(path) in lines[2] and "Set Remote Token" in lines[2]


def test_token_file_is_removed_when_the_daemon_stops(tmp_path, tiny_gpt2):
    starting = _start(tmp_path, "tcp", tiny_gpt2)
    remote = next(starting)
    path = remote.token_file()
    assert path.exists()
    remote.process.send_signal(signal.SIGTERM)
    assert remote.process.wait(timeout=30) == 0
    assert not path.exists()
    starting.close()


# ----------------------------------------------------------------------------------------------
# malformed and oversized messages before login


async def _raw_tcp(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; what the daemon sends before it hangs up (b"" at once)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 15)
    except ConnectionResetError:  # hung up with our bytes still unread
        return b""
    finally:
        writer.close()


def _frame(body: bytes, length: int | None = None) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


async def _tcp_garbage(remote: Remote) -> dict[str, Any]:
    rightful = await _rightful(remote)
    seen: dict[str, Any] = {}
    for name, data in {
        "not JSON": _frame(b"{{{{ not json"),
        "JSON but no message": _frame(b"[1, 2, 3]"),
        "oversized (a 2 MiB Content-Length)": _frame(b"{}", length=2 * 1024 * 1024),
        "huge Content-Length": _frame(b"{}", length=10**15),
        "a header line of 200 kB": b"X-Junk: " + b"a" * 200_000 + b"\r\n",
    }.items():
        seen[name] = await _raw_tcp(remote.port, data)
        seen[f"status after {name}"] = await _status(rightful)
    await _leave(rightful)
    return seen


def test_tcp_malformed_and_oversized_messages_before_login_close_the_connection(tcp):
    seen = asyncio.run(asyncio.wait_for(_tcp_garbage(tcp), 180))
    for name in [n for n in seen if not n.startswith("status")]:
        assert seen[name] == b"", f"{name}: the daemon answered {seen[name][:200]!r}"  # hung up, said nothing
        assert seen[f"status after {name}"]["version"]
    assert tcp.process.poll() is None


async def _ws_garbage(remote: Remote) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    rightful = await _rightful(remote)
    seen: dict[str, Any] = {}
    for name, frame in {
        "not JSON": "{{{{ not json",
        "oversized (a 2 MiB frame)": json.dumps({"jsonrpc": "2.0", "method": "x", "params": "a" * 2 * 1024 * 1024}),
    }.items():
        async with connect(f"ws://127.0.0.1:{remote.port}", max_size=None) as ws:
            await ws.send(frame)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 15)
            seen[name] = info.value.rcvd.code if info.value.rcvd else None
        seen[f"status after {name}"] = await _status(rightful)
    # after login the limit is the large one: the rightful client opens a 2.5 MB document
    rightful.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem("file:///big.py", "python", 1, "x = 1\n" * 420_000))
    )
    seen["status after a big document"] = await _status(rightful)
    await _leave(rightful)
    return seen


def test_ws_malformed_and_oversized_frames_before_login_close_the_connection(ws):
    seen = asyncio.run(asyncio.wait_for(_ws_garbage(ws), 180))
    assert seen["not JSON"] == 1000  # closed by the daemon, normally, without an answer
    assert seen["oversized (a 2 MiB frame)"] == 1009  # "message too big"
    for name in ("not JSON", "oversized (a 2 MiB frame)", "a big document"):
        assert seen[f"status after {name}"]["version"]


# ----------------------------------------------------------------------------------------------
# WebSocket handshakes a browser page could make


async def _handshake(port: int, host: str, origin: str | None) -> str:
    """The status line the daemon answers a WebSocket upgrade request with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    try:
        return (await asyncio.wait_for(reader.readline(), 15)).decode().strip()
    finally:
        writer.close()


def test_ws_refuses_browser_origins_and_rebound_hosts(ws):
    port = ws.port
    cases = {
        ("127.0.0.1", None): 101,  # a native client: no Origin
        ("localhost", None): 101,
        ("127.0.0.1", ALLOWED_ORIGIN): 101,  # --allow-origin
        ("127.0.0.1", "https://evil.example"): 403,  # cross-site WebSocket hijacking
        ("127.0.0.1", "null"): 403,  # a sandboxed iframe or a file:// page
        ("127.0.0.1", ALLOWED_ORIGIN + ".evil.example"): 403,
        ("evil.example", None): 403,  # DNS rebinding: the browser still sends the page's name
        ("127.0.0.1.evil.example", None): 403,
        ("evil.example", ALLOWED_ORIGIN): 403,
        ("", None): 403,
    }

    async def scenario() -> dict[tuple[str, str | None], str]:
        rightful = await _rightful(ws)
        answers = {}
        for host, origin in cases:
            answers[host, origin] = await _handshake(port, f"{host}:{port}" if host else "", origin)
        answers["status"] = (await _status(rightful))["version"]
        await _leave(rightful)
        return answers

    answers = asyncio.run(asyncio.wait_for(scenario(), 120))
    for (host, origin), code in cases.items():
        assert answers[host, origin].startswith(f"HTTP/1.1 {code} "), (host, origin, answers[host, origin])
    assert answers["status"]


# ----------------------------------------------------------------------------------------------
# model paths


def _probes(remote: Remote) -> dict[str, str]:
    """Names a client might send, by what is really there; none is under the model root."""
    home = Path.home()
    return {
        "exists, a model": str(remote.outside),
        "exists, no config.json": "/etc",
        "exists, a file": "/etc/passwd",
        "exists, ~": "~",
        "exists, relative": "outside/tiny",  # the daemon's working directory is the test's folder
        "exists, via ..": f"{remote.models}/../outside/tiny",
        "missing, absolute": "/no/such/folder",
        "missing, in home": str(home / "no-such-folder-tokenlight"),
        "missing, relative": "./no-such-folder",
        "missing, via ..": f"{remote.models}/../../no-such",
        "missing, hub-like id": "no-such-owner/no-such-model",
    }


async def _model_paths(remote: Remote) -> dict[str, Any]:
    client = await _rightful(remote)
    seen: dict[str, Any] = {}
    for name, model in _probes(remote).items():
        with pytest.raises(JsonRpcException) as info:
            await client.protocol.send_request_async("tokenlight/loadModel", {"model": model})
        seen[name] = (info.value.code, info.value.message.replace(repr(model), "MODEL"), info.value.data)
    # a model setting is checked where a job would load it
    uri = "file:///probe.py"
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, "x = 1\n")))
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tokenlight": {"model": "/etc", "maxNewTokens": 1}})
    )
    params = {
        "textDocument": {"uri": uri},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 5}},
    }
    with pytest.raises(JsonRpcException) as info:
        await client.protocol.send_request_async("tokenlight/attribute", params)
    seen["setting"] = (info.value.code, info.value.message.replace(repr("/etc"), "MODEL"), info.value.data)
    # inside the root, a model loads; the status then names it without its path
    seen["allowed"] = await client.protocol.send_request_async(
        "tokenlight/loadModel", {"model": str(remote.models / "tiny")}
    )
    seen["status"] = await _status(client)
    await _leave(client)
    return seen


def test_model_paths_outside_the_roots_get_one_answer_and_status_shows_no_paths(tcp):
    seen = asyncio.run(asyncio.wait_for(_model_paths(tcp), 300))
    refusals = {name: seen[name] for name in [*_probes(tcp), "setting"]}
    assert len(set(map(repr, refusals.values()))) == 1, refusals  # existing or not: the same answer
    code, message, data = refusals["setting"]
    assert code == REQUEST_FAILED and data == {"kind": "ModelNotAllowed"}
    assert message.startswith("model MODEL is not one this daemon serves") and "--model-root" in message
    assert seen["allowed"]["name"] == str(tcp.models / "tiny")
    status = json.dumps({key: value for key, value in seen["status"].items() if key != "settings"})  # not its own
    assert seen["status"]["model"] == "tiny" and seen["status"]["cache"]["directory"] is None
    for private in (str(tcp.models), str(tcp.stderr_file.parent), str(Path.home())):
        assert private not in status
