"""A real Tokenlight daemon and a real pygls LanguageClient, talking over the process's pipes.

pytest-asyncio is not a dependency, so each daemon owns an event loop of its own and tests drive it
with ``daemon.run(coroutine)``; between calls the loop is idle and messages wait in the pipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.protocol import LanguageServerProtocol, default_converter

T = TypeVar("T")
TIMEOUT_S = 180.0


@attrs.define
class RawResponseMessage:
    """A response to a ``tokenlight/*`` request with its result as plain JSON (not namedtuples)."""

    id: int | str
    jsonrpc: str
    result: Any = None


class _RawResultProtocol(LanguageServerProtocol):
    def get_result_type(self, method: str) -> Any:
        if method.startswith("tokenlight/"):
            return RawResponseMessage
        return super().get_result_type(method)


def _converter():
    converter = default_converter()
    converter.register_structure_hook(RawResponseMessage, lambda obj, cls: cls(**obj))
    return converter


def make_client() -> LanguageClient:
    return LanguageClient("tokenlight-tests", "0", protocol_cls=_RawResultProtocol, converter_factory=_converter)


def position(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def lsp_range(start: tuple[int, int], end: tuple[int, int]) -> dict[str, Any]:
    return {"start": position(*start), "end": position(*end)}


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def lsp_lines(document: str) -> list[str]:
    """Lines as LSP (and VS Code) count them: broken at \\n, \\r\\n and \\r only, never at the form
    feeds, U+2028 and the like that ``str.splitlines`` also breaks at."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", document)


def text_at(document: str, rng: dict[str, Any]) -> str:
    """The text of ``document`` under an LSP range given in UTF-16 code units (what VS Code does)."""
    lines = lsp_lines(document)

    def offset(pos: dict[str, int]) -> int:
        if pos["line"] == len(lines):
            return len(document)
        line = lines[pos["line"]]
        units, column = 0, 0
        while units < pos["character"]:
            units += utf16_units(line[column])
            column += 1
        assert units == pos["character"], f"position {pos} is inside a character"
        return sum(len(x) for x in lines[: pos["line"]]) + column

    return document[offset(rng["start"]) : offset(rng["end"])]


@contextlib.contextmanager
def listening(
    command: list[str], stderr_file: Path, env: dict[str, str], pattern: str, cwd: Path | None = None
) -> Iterator[tuple[subprocess.Popen, re.Match[str]]]:
    """A remote-mode daemon started with ``command``, once its stderr (kept in ``stderr_file``)
    matches ``pattern`` (its ``listening on`` line, ...); stopped with SIGTERM (else killed) after."""
    with stderr_file.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(pattern, stderr_file.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, stderr_file.read_text()
            time.sleep(0.05)
        yield process, match
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Daemon:
    """One ``python -m tokenlight.server`` process and its client."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: LanguageClient, log_file: Path) -> None:
        self.loop = loop
        self.client = client
        self.log_file = log_file
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.diagnostic_events: list[tuple[str, int]] = []
        self.progress: list[tuple[Any, dict[str, Any]]] = []
        self.stderr: list[str] = []
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.messages: list[types.ShowMessageParams] = []
        self.dropped: list[dict[str, Any]] = []  # tokenlight/resultsDropped notifications
        self.init_result: types.InitializeResult | None = None
        self._stderr_task: asyncio.Task[None] | None = None

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _diagnostics(params: types.PublishDiagnosticsParams) -> None:
            self.diagnostics[params.uri] = list(params.diagnostics)
            self.diagnostic_events.append((params.uri, len(params.diagnostics)))

        @client.feature(types.WINDOW_SHOW_MESSAGE)
        def _message(params: types.ShowMessageParams) -> None:
            self.messages.append(params)

        @client.feature("tokenlight/resultsDropped")
        def _dropped(params: Any) -> None:
            self.dropped.append(params if isinstance(params, dict) else params._asdict())

        @client.feature(types.PROGRESS)
        def _progress(params: types.ProgressParams) -> None:
            value = params.value
            self.progress.append((params.token, value if isinstance(value, dict) else value._asdict()))

    @classmethod
    def start(
        cls,
        tmp: Path,
        cache_dir: Path,
        *,
        args: tuple[str, ...] = (),
        initialization_options: Any = None,
        capabilities: types.ClientCapabilities | None = None,
    ) -> tuple[Daemon, types.InitializeResult]:
        loop = asyncio.new_event_loop()
        client = make_client()
        log_file = tmp / "daemon.log"
        daemon = cls(loop, client, log_file)
        env = dict(os.environ, TOKENLIGHT_CACHE_DIR=str(cache_dir), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
        env.pop("TOKENLIGHT_TOKEN", None)
        command = [sys.executable, "-m", "tokenlight.server", "--log-file", str(log_file), "--log-level", "debug"]
        daemon.run(client.start_io(*command, *args, env=env))
        daemon._stderr_task = loop.create_task(daemon._drain_stderr())
        result = daemon.run(
            client.initialize_async(
                types.InitializeParams(
                    capabilities=capabilities or types.ClientCapabilities(),
                    initialization_options=initialization_options,
                )
            )
        )
        client.initialized(types.InitializedParams())
        daemon.init_result = result
        return daemon, result

    async def _drain_stderr(self) -> None:
        """The client pipes the server's stderr and never reads it: read it, so it never fills."""
        process = self.client._server
        if process is None or process.stderr is None:
            return
        while line := await process.stderr.readline():
            self.stderr.append(line.decode(errors="replace"))

    def run(self, awaitable: Awaitable[T], timeout: float = TIMEOUT_S) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    def settle(self, seconds: float = 0.3) -> None:
        """Let notifications the daemon has sent arrive."""
        self.run(asyncio.sleep(seconds))

    # -- requests --------------------------------------------------------------------------------
    async def request(self, method: str, params: Any = None, msg_id: int | str | None = None) -> Any:
        response = await self.client.protocol.send_request_async(method, params, msg_id=msg_id)
        return response

    def call(self, method: str, params: Any = None) -> Any:
        return self.run(self.request(method, params))

    def attribute(self, uri: str, rng: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return self.call("tokenlight/attribute", {"textDocument": {"uri": uri}, "range": rng, **extra})

    def hover(self, uri: str, line: int, character: int) -> types.Hover | None:
        return self.run(
            self.client.text_document_hover_async(
                types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(line, character))
            )
        )

    def inlay_hints(self, uri: str) -> list[types.InlayHint]:
        n_lines = self.texts[uri].count("\n") + 1
        return list(
            self.run(
                self.client.text_document_inlay_hint_async(
                    types.InlayHintParams(
                        types.TextDocumentIdentifier(uri), types.Range(types.Position(0, 0), types.Position(n_lines, 0))
                    )
                )
            )
            or []
        )

    # -- document sync ---------------------------------------------------------------------------
    def open(self, uri: str, text: str) -> None:
        self.versions[uri] = 1
        self.texts[uri] = text
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )

    def edit(self, uri: str, start: tuple[int, int], end: tuple[int, int], new_text: str, expected: str) -> None:
        """An incremental edit; ``expected`` is the whole text after it (kept for the helpers)."""
        self.versions[uri] += 1
        self.texts[uri] = expected
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(*start), types.Position(*end)), text=new_text
                    )
                ],
            )
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "".join(self.log_file.read_text(encoding="utf-8").splitlines(keepends=True)[-lines:])
        except OSError:
            return "(no log)"

    def close(self) -> None:
        client = self.client
        try:
            if not client.stopped:
                self.run(client.shutdown_async(None), timeout=30)
                client.exit(None)
                self.run(client.stop(), timeout=30)
        except Exception:
            process = client._server
            if process is not None and process.returncode is None:
                process.kill()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()
