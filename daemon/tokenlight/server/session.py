"""One client's session: its settings, documents, stored results, progress tokens and login state.

A :class:`Session` is pygls' ``LanguageServer`` for one client, over the :class:`~.backend.Backend`
it shares with the daemon's other sessions; the handlers (:mod:`.handlers`) receive it as ``ls``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from ..cache import ResultCache
from ..version import __version__
from . import protocol as proto
from .auth import tokens_match
from .backend import Backend
from .diagnostics import diagnostics
from .documents import ResultStore, StoredResult
from .errors import ErrorCode, invalid_params
from .jobs import ModelRequest
from .model_roots import ModelRoots
from .positions import TextIndex
from .rpc import TokenlightProtocol
from .runner import Runner
from .settings import Settings
from .worker import QueuedJob, Worker

log = logging.getLogger(__name__)

# remote mode: a connection that has not logged in by then is closed (--login-timeout overrides it)
LOGIN_TIMEOUT_S = 30.0


class _Discard:
    """The writer of a session whose connection is gone: late answers and progress go nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class Session(LanguageServer):
    """One client's session: its settings, documents, stored results, progress tokens and login
    state, over the :class:`Backend` it shares with the daemon's other sessions."""

    protocol: TokenlightProtocol

    def __init__(
        self, *, token: str | None = None, cache: ResultCache | None = None, backend: Backend | None = None
    ) -> None:
        super().__init__(
            "tokenlight",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=TokenlightProtocol,
            converter_factory=proto.converter_factory,
        )
        self.backend = backend if backend is not None else Backend(cache)
        self.session_id = self.backend.attach(self)
        self.token = token
        self.authenticated = token is None
        self.settings = Settings()
        self.store = ResultStore()
        self.progress_jobs: dict[int | str, QueuedJob] = {}
        # VS Code's Cancel sends $/cancelRequest *and* window/workDoneProgress/cancel; whichever comes
        # second names a token whose job has already ended: remembered so that it is not "unknown"
        self.ended_progress_tokens: deque[int | str] = deque(maxlen=64)
        self.startup: dict[str, Any] = {"torchImportedAtInitialize": None, "initializeMs": None}
        self.close_connection: Callable[[], None] | None = None  # remote mode: hang up on this client
        self.on_login: Callable[[], None] | None = None  # remote mode: the transport lifts its pre-login limits
        self.model_roots: ModelRoots | None = None  # remote mode: where this client's models may come from
        self.connected = True
        self._started = time.perf_counter()

    @property
    def cache(self) -> ResultCache:
        return self.backend.cache

    @property
    def runner(self) -> Runner:
        return self.backend.runner

    @property
    def worker(self) -> Worker:
        return self.backend.worker

    @property
    def methods(self) -> list[dict[str, Any]] | None:
        return self.backend.methods

    # ------------------------------------------------------------------------------------------
    def end_session(self) -> None:
        """The client's connection is gone (remote mode): cancel this session's requests and jobs
        (only its own: a waiting job is skipped, a running one stops at its next chunk), stop
        writing, and leave the backend. Other sessions and the listener are untouched."""
        if not self.connected:
            return
        self.connected = False
        self.close_connection = None
        self.protocol.set_writer(_Discard())
        jobs = self.worker.cancel_owned_by(self.session_id)
        requests = self.protocol.cancel_in_flight()
        for job in self.progress_jobs.values():
            job.cancel()
        self.progress_jobs.clear()
        self.store.clear_all()
        self.backend.detach(self.session_id)
        log.info(
            "session %d ended: %d request(s) cancelled, %d job(s) cancelled%s",
            self.session_id,
            requests,
            len(jobs),
            f" ({', '.join(f'job {job.id}' for job in jobs)})" if jobs else "",
        )

    def check_token(self, options: Any) -> None:
        """Remote mode: accept ``initialize`` only with the right token, else error and hang up."""
        if self.token is None:
            return
        given = options.get("token") if isinstance(options, dict) else None
        if tokens_match(given, self.token):
            self.authenticated = True
            if self.on_login is not None:
                self.on_login()
            return
        log.warning("rejected a connection: %s token", "wrong" if given else "missing")
        if self.close_connection is not None:
            asyncio.get_running_loop().call_soon(self.close_connection)
        raise JsonRpcException(
            message="this daemon needs a token: pass the right one as initializationOptions.token "
            "(the token it printed when it started, also in its token file, or its --token / TOKENLIGHT_TOKEN)",
            code=ErrorCode.UNAUTHORIZED,
        )

    def model_request(self, name: str | None, device: str, dtype: str) -> ModelRequest:
        """The model a job needs; a remote client's must come from the allowed roots."""
        if self.model_roots is not None:
            self.model_roots.check(name)
        return ModelRequest(name, device, dtype)

    def document(self, uri: str, method: str) -> TextDocument:
        """An open document, or an error telling the client to open it first."""
        doc: TextDocument | None = self.workspace.text_documents.get(unquote(uri))
        if doc is None:
            raise invalid_params(
                f"{method}: {uri} is not open; open it first (textDocument/didOpen) so the daemon has its text"
            )
        return doc

    def ensure_methods(self) -> asyncio.Future[list[dict[str, Any]]]:
        """Import the engine on the worker (once per process) and describe its methods."""
        return self.backend.ensure_methods()

    def publish(self, uri: str) -> None:
        """(Re)publish a document's diagnostics: empty when it has no unconverged result."""
        doc = self.workspace.text_documents.get(unquote(uri))
        results = self.store.results(uri)
        found = diagnostics(results, TextIndex(doc)) if doc is not None and results else []
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=doc.version if doc else None)
        )

    def refresh_inlay_hints(self) -> None:
        """Ask the client to re-request inlay hints, when it says it can."""
        caps = self.client_capabilities.workspace
        if caps is not None and caps.inlay_hint is not None and caps.inlay_hint.refresh_support:
            self.workspace_inlay_hint_refresh(None)

    def dropped(self, uri: str, results: list[StoredResult], reason: str) -> None:
        """Results gone from the store: clear their hints and diagnostics and name them to the client,
        which keeps its own copies for colours (so it never guesses which ones died)."""
        if results:
            log.info("dropped %s from %s (%s)", ", ".join(r.id for r in results), uri, reason)
            self.notify_dropped(uri, results, reason)
            self.publish(uri)
            self.refresh_inlay_hints()

    def notify_dropped(self, uri: str, results: list[StoredResult], reason: str) -> None:
        if results:
            self.protocol.notify(proto.RESULTS_DROPPED, {"uri": uri, "ids": [r.id for r in results], "reason": reason})

    def show_problems(self, problems: list[str]) -> None:
        for problem in problems:
            log.warning("%s", problem)
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=problem))
