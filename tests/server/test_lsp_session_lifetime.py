"""Remote mode: a session whose connection has ended leaves nothing behind in the daemon.

Each connection's session holds that client's whole documents and stored results (score matrices);
a daemon that serves clients for weeks must let them go when the client leaves. This runs the real
TCP listener in-process (so that the sessions can be watched with weak references) and talks to it
with real pygls clients over real sockets: log in, open a document, change settings, attribute with
progress, then leave (shutdown + exit) or hang up.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from lsp_harness import lsp_range, make_client
from lsprotocol import types

from tokenlight.cache import ResultCache
from tokenlight.server import transport
from tokenlight.server.auth import Login
from tokenlight.server.backend import Backend
from tokenlight.server.model_roots import ModelRoots

TOKEN = "lifetime-token"


def test_ended_sessions_are_not_kept_in_memory(tmp_path, monkeypatch):
    listening: asyncio.Future[int] | None = None

    def announce(kind: str, sockets: Any) -> None:
        assert listening is not None
        listening.set_result(sockets[0].getsockname()[1])

    backend = Backend(ResultCache(tmp_path / "cache", 0))
    sessions = transport._Sessions(backend, transport.Remote(Login(TOKEN, generated=False), ModelRoots()))
    monkeypatch.setattr(sessions, "announce", announce)

    async def one_client(port: int, how: str) -> weakref.ref:
        client = make_client()
        progress: list[Any] = []
        client.feature(types.PROGRESS)(lambda params: progress.append(params))
        client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(lambda params: None)
        await client.start_tcp("127.0.0.1", port)
        capabilities = types.ClientCapabilities(workspace=types.WorkspaceClientCapabilities(configuration=True))
        await client.initialize_async(
            types.InitializeParams(capabilities=capabilities, initialization_options={"token": TOKEN})
        )
        client.initialized(types.InitializedParams())
        uri = "file:///lifetime/a.py"
        text = "def add(a, b):\n    return a + b\n" + "x = 1\n" * 20_000
        client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text)))
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"tokenlight": {"maxNewTokens": 1}})
        )
        params = {
            "textDocument": {"uri": uri},
            "range": lsp_range((0, 0), (0, 14)),
            "method": "saliency",
            "workDoneToken": f"lifetime-{how}",
        }
        result = await client.protocol.send_request_async("tokenlight/attribute", params)
        assert result["id"] and progress
        status = await client.protocol.send_request_async("tokenlight/status", {})
        assert status["sessions"] == 1
        (session,) = sessions.open
        ref = weakref.ref(session)
        del session
        if how == "leave":
            await client.shutdown_async(None)
            client.exit(None)
        else:
            client.protocol.writer.close()
        await asyncio.wait(client._async_tasks, timeout=15)
        await client.stop()
        return ref

    async def scenario() -> list[weakref.ref]:
        nonlocal listening
        listening = asyncio.get_running_loop().create_future()
        server = asyncio.ensure_future(transport._serve_tcp(sessions, transport.Address("127.0.0.1", 0)))
        port = await asyncio.wait_for(listening, 30)
        refs = [await one_client(port, how) for how in ("leave", "hang up", "leave")]
        for _ in range(200):
            if not backend.sessions and not sessions.open and not backend.worker.busy:
                break
            await asyncio.sleep(0.05)
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        return refs

    refs = asyncio.run(asyncio.wait_for(scenario(), 300))
    gc.collect()
    backend.worker.stop()  # after the check: the idle worker must not hold the last job either
    assert not backend.sessions and not sessions.open
    alive = [i for i, ref in enumerate(refs) if ref() is not None]
    assert alive == [], f"sessions {alive} are still in memory after their connections ended"
