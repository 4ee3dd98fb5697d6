"""Remote mode: the token check on TCP and WebSocket binds, refusing an open bind without a token,
``exit`` ending a connection but not the daemon, SIGTERM ending the daemon. Real processes, real
sockets. Several clients at once: test_lsp_multi_client.py."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import pytest
from lsp_harness import make_client
from lsprotocol import types
from pygls.exceptions import JsonRpcException

SERVER = [sys.executable, "-m", "tokenlight.server"]


def _env(tmp_path) -> dict[str, str]:
    env = dict(os.environ, TOKENLIGHT_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    env.pop("TOKENLIGHT_TOKEN", None)
    return env


def test_open_bind_without_token_refuses_to_start(tmp_path):
    done = subprocess.run(
        [*SERVER, "--tcp", "0.0.0.0:0"], capture_output=True, text=True, timeout=60, env=_env(tmp_path)
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "binding 0.0.0.0 exposes the model" in lines[0] and "--token" in lines[0]


def test_ws_serves_clients_that_have_the_token(tmp_path):
    """WebSocket mode end to end: real pygls clients over real WebSockets, two at once, token checked."""
    process = subprocess.Popen(
        [*SERVER, "--ws", "127.0.0.1:0", "--token", "s3cret", "--log-file", str(tmp_path / "daemon.log")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )

    async def scenario(port: int) -> tuple[str, list[str]]:
        wrong = make_client()
        await wrong.start_ws("127.0.0.1", port)
        with pytest.raises(JsonRpcException) as info:
            await wrong.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(), initialization_options={"token": "nope"}
                )
            )
        await wrong.stop()
        await asyncio.sleep(0.2)
        clients = [make_client(), make_client()]  # two at once, each its own session
        for client in clients:
            await client.start_ws("127.0.0.1", port)
            await client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(), initialization_options={"token": "s3cret"}
                )
            )
            client.initialized(types.InitializedParams())
        answers = await asyncio.gather(
            *(client.protocol.send_request_async("tokenlight/methods", {}) for client in clients)
        )
        # a 2.5 MB file is one didOpen message: above websockets' 1 MiB default, within our limit
        big = "x = 1\n" * 420_000
        clients[0].text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri="file:///big.py", language_id="python", version=1, text=big)
            )
        )
        status = await clients[0].protocol.send_request_async("tokenlight/status", {})
        assert status["sessions"] == 2
        for client in clients:
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
        assert [m["id"] for m in answers[0]] == [m["id"] for m in answers[1]]
        return info.value.message, [m["id"] for m in answers[0]]

    try:
        line = process.stderr.readline()
        match = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", line)
        assert match, line + process.stderr.read()
        rejected, methods = asyncio.run(asyncio.wait_for(scenario(int(match.group(1))), 120))
        assert "initializationOptions.token" in rejected
        assert "integrated_gradients" in methods
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


async def _tcp_scenario(port: int) -> dict[str, object]:
    seen: dict[str, object] = {}

    async def initialize(client, options):
        await client.start_tcp("127.0.0.1", port)
        return await client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options)
        )

    async def closed(client) -> bool:
        """True when the server hung up (the client's reader loop ended)."""
        done, _ = await asyncio.wait(client._async_tasks, timeout=10)
        return bool(done)

    # a request before initialize is refused
    early = make_client()
    await early.start_tcp("127.0.0.1", port)
    with pytest.raises(JsonRpcException) as info:
        await early.protocol.send_request_async("tokenlight/status", {})
    seen["early"] = info.value
    early.protocol.writer.close()
    await closed(early)
    await early.stop()
    await asyncio.sleep(0.2)

    for name, options in (("wrong", {"token": "not-it"}), ("missing", None)):
        client = make_client()
        with pytest.raises(JsonRpcException) as info:
            await initialize(client, options)
        seen[name] = info.value
        seen[f"{name}-closed"] = await closed(client)
        await client.stop()
        await asyncio.sleep(0.2)

    client = make_client()
    result = await initialize(client, {"token": "s3cret", "maxNewTokens": 1})
    seen["encoding"] = result.capabilities.position_encoding
    client.initialized(types.InitializedParams())
    status = await client.protocol.send_request_async("tokenlight/status", {})
    seen["status"] = status
    await client.shutdown_async(None)
    client.exit(None)
    seen["exit-closed"] = await closed(client)  # exit ends this client's connection ...
    await client.stop()

    # ... not the daemon: the next client is served (a fresh session: its own settings)
    again = make_client()
    await initialize(again, {"token": "s3cret"})
    again.initialized(types.InitializedParams())
    seen["again"] = await again.protocol.send_request_async("tokenlight/status", {})
    await again.shutdown_async(None)
    again.exit(None)
    await closed(again)
    await again.stop()
    return seen


def test_tcp_token_check(tmp_path):
    log_file = tmp_path / "daemon.log"
    process = subprocess.Popen(
        [*SERVER, "--tcp", "127.0.0.1:0", "--token", "s3cret", "--log-file", str(log_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        line = process.stderr.readline()
        match = re.search(r"listening on tcp://127\.0\.0\.1:(\d+)", line)
        assert match, line + process.stderr.read()
        seen = asyncio.run(asyncio.wait_for(_tcp_scenario(int(match.group(1))), 120))
        assert seen["early"].code == -32002 and "token" in seen["early"].message
        for name in ("wrong", "missing"):
            assert seen[name].code == -32001 and "initializationOptions.token" in seen[name].message
            assert seen[f"{name}-closed"] is True
        assert seen["encoding"] == types.PositionEncodingKind.Utf16
        status = seen["status"]
        assert status["startup"]["torchImportedAtInitialize"] is False
        assert status["settings"]["maxNewTokens"] == 1
        assert seen["exit-closed"] is True
        assert seen["again"]["settings"]["maxNewTokens"] == 8
        assert process.poll() is None  # remote mode: exit ends a connection, never the daemon
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0  # SIGTERM stops it cleanly
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert "rejected a connection: wrong token" in log_file.read_text()
