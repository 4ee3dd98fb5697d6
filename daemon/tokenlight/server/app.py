"""The language server: one handler per LSP message, each translating protocol <-> engine.

Start-up imports no torch and no transformers: ``initialize`` answers at once, the engine is
imported on the worker thread after ``initialized`` (for ``tokenlight/methods``) and the model loads
on first use. Heavy requests (attribute, loadModel) are ``async`` handlers that queue a job on the
worker and await it, so that ``$/cancelRequest`` reaches them; every other handler is answered from
the event loop, from stored plain data, while a job runs.

One :class:`TokenlightServer` is one session: one client's documents, results, settings, progress
tokens and login state. What the sessions of one daemon process share lives in a :class:`Backend`:
the worker (one FIFO queue of heavy jobs), the runner (the resident model), the results cache and the
method list. Over stdio there is one session; in remote mode (``transport.py``) each connection gets
its own session on the one backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcRequestCancelled
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import RPCRequest
from pygls.workspace import TextDocument

from .. import __version__
from ..cache import ResultCache
from . import protocol as proto
from .auth import tokens_match
from .diagnostics import diagnostics
from .documents import ResultStore, StoredResult
from .hover import hover_markdown
from .inlay import inlay_hints
from .model_roots import ModelRoots, public_model_name
from .positions import LspLinesWorkspace, PositionError, TextIndex
from .progress import WorkDone
from .runner import Job, ModelRequest, Runner
from .settings import Settings, section
from .worker import QueuedJob, Worker, is_cancelled_error

log = logging.getLogger(__name__)

LOGIN_TIMEOUT_S = 30.0


class TokenlightProtocol(LanguageServerProtocol):
    """pygls' protocol with these changes: ``tokenlight/*`` params stay plain JSON; a token gate for
    remote mode; didChange left to our handler (which must see each change's span *before* it is
    applied, to move stored results); documents split into lines the way LSP does (see
    :class:`~.positions.LspLinesWorkspace`); and in remote mode ``exit`` ends the connection, not
    the daemon that other clients share."""

    _server: TokenlightServer

    # pygls memoises these two with a class-level functools.lru_cache keyed on (self, method): it would
    # keep the last hundred-odd protocols, and with them ended sessions' documents and results, alive
    def get_message_type(self, method: str) -> Any:
        if proto.is_custom(method) and method not in proto.SERVER_NOTIFICATIONS:
            return proto.RawRequestMessage
        return types.METHOD_TO_TYPES.get(method, (None,))[0]

    def get_result_type(self, method: str) -> Any:
        return types.METHOD_TO_TYPES.get(method, (None, None))[1]

    def handle_message(self, message: Any) -> None:
        server = self._server
        method = getattr(message, "method", None)
        if not server.authenticated and method not in (None, types.INITIALIZE, types.EXIT):
            if isinstance(message, RPCRequest):
                self._send_response(
                    message.id,
                    error=types.ResponseError(
                        code=proto.ErrorCode.SERVER_NOT_INITIALIZED,
                        message="initialize first, with the daemon's token in initializationOptions.token",
                    ),
                )
            return
        super().handle_message(message)

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        # pygls builds its Workspace before it hands over to our initialize handler (its first
        # yield); no document is open yet, so swapping in one with LSP line breaks loses nothing
        steps = super().lsp_initialize(params)
        try:
            request = next(steps)
        except StopIteration as done:
            self._adopt_lsp_lines()
            return done.value
        self._adopt_lsp_lines()
        while True:
            value = yield request
            try:
                request = steps.send(value)
            except StopIteration as done:
                return done.value

    def _adopt_lsp_lines(self) -> None:
        workspace = self._workspace
        if workspace is not None and not isinstance(workspace, LspLinesWorkspace):
            self._workspace = LspLinesWorkspace.like(workspace)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args):
        close = self._server.close_connection
        if close is None:  # stdio: the process ends, as pygls does it
            yield from super().lsp_exit(*args)
            return
        # remote: this client leaves; the daemon goes on serving the others and the next
        log.info("session %d: exit: closing its connection", self._server.session_id)
        close()

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None
        else:  # keep the document in sync even without our handler
            for change in params.content_changes:
                self.workspace.update_text_document(params.text_document, change)

    @lsp_method(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def lsp_work_done_progress_cancel(self, params: types.WorkDoneProgressCancelParams):
        # pygls only knows progress tokens the *server* created and warns about any other; ours are
        # the client's workDoneTokens (VS Code's Cancel sends one with every cancellation), which our
        # handler maps to the job. Unknown to both: pygls' own handling (and its warning) as before.
        if params.token in self._server.progress_jobs:
            if (handler := self.fm.features.get(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)) is not None:
                yield handler, (params,), None
            return
        if params.token in self._server.ended_progress_tokens:
            log.debug("progress cancel for %r after its job ended", params.token)
            return
        yield from super().lsp_work_done_progress_cancel(params)

    def cancel_in_flight(self) -> int:
        """Cancel every request this session is still answering and every request it is waiting
        on from its client (the connection is gone); returns how many."""
        futures = [future for future in self._request_futures.values() if not future.done()]
        for future in futures:
            future.cancel()
        return len(futures)


class _Discard:
    """The writer of a session whose connection is gone: late answers and progress go nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class Backend:
    """What every session of one daemon process shares: the worker (one FIFO queue, one job at a
    time: one model, one GPU), the runner (the resident model, loaded for whichever model a job
    asks for), the results cache and the method list; and the sessions connected now."""

    def __init__(self, cache: ResultCache | None = None) -> None:
        self.cache = cache if cache is not None else ResultCache()
        self.runner = Runner(self.cache)
        self.worker = Worker()
        self.methods: list[dict[str, Any]] | None = None
        self._methods_future: asyncio.Future[list[dict[str, Any]]] | None = None
        self.sessions: dict[int, TokenlightServer] = {}
        self._session_ids = itertools.count(1)
        self.started = time.monotonic()

    def attach(self, session: TokenlightServer) -> int:
        session_id = next(self._session_ids)
        self.sessions[session_id] = session
        return session_id

    def detach(self, session_id: int) -> None:
        self.sessions.pop(session_id, None)

    def ms(self, monotonic: float | None) -> float | None:
        """A ``time.monotonic()`` instant as milliseconds since the daemon started."""
        return None if monotonic is None else round((monotonic - self.started) * 1000, 3)

    def ensure_methods(self) -> asyncio.Future[list[dict[str, Any]]]:
        """Import the engine on the worker (once per process) and describe its methods."""
        if self._methods_future is None:
            job = self.worker.submit("methods", lambda _ctx: self.runner.methods())
            self._methods_future = job.future

            def keep(future: asyncio.Future[list[dict[str, Any]]]) -> None:
                if not future.cancelled() and future.exception() is None:
                    self.methods = future.result()
                else:
                    self._methods_future = None  # try again on the next request

            job.future.add_done_callback(keep)
        return self._methods_future


class TokenlightServer(LanguageServer):
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
            code=proto.ErrorCode.UNAUTHORIZED,
        )

    def model_request(self, name: str | None, device: str, dtype: str) -> ModelRequest:
        """The model a job needs; a remote client's must come from the allowed roots."""
        if self.model_roots is not None:
            self.model_roots.check(name)
        return ModelRequest(name, device, dtype)

    def document(self, uri: str, method: str) -> TextDocument:
        """An open document, or an error telling the client to open it first."""
        doc = self.workspace.text_documents.get(unquote(uri))
        if doc is None:
            raise proto.invalid_params(
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


# ----------------------------------------------------------------------------------------------
# lifecycle and settings


def initialize(ls: TokenlightServer, params: types.InitializeParams) -> None:
    """``initialize``: check the token (remote mode), take settings from initializationOptions."""
    ls.startup["torchImportedAtInitialize"] = "torch" in sys.modules
    ls.check_token(params.initialization_options)
    options = params.initialization_options
    raw = (section(options) or options) if isinstance(options, dict) else None
    ls.settings, problems = ls.settings.updated(raw)
    for problem in problems:
        log.warning("initializationOptions: %s", problem)
    ls.startup["initializeMs"] = round((time.perf_counter() - ls._started) * 1000, 1)
    log.info("initialize after %.0f ms (torch imported: %s)", ls.startup["initializeMs"], "torch" in sys.modules)


def initialized(ls: TokenlightServer, params: types.InitializedParams) -> None:
    """``initialized``: start importing the engine in the background (for tokenlight/methods)."""
    ls.ensure_methods()


async def did_change_configuration(ls: TokenlightServer, params: types.DidChangeConfigurationParams) -> None:
    """``workspace/didChangeConfiguration``: new defaults for later requests (a new model or
    device is loaded by the next job). Settings pushed under ``tokenlight``, else pulled."""
    raw = section(params.settings)
    if raw is None:
        caps = ls.client_capabilities.workspace
        if caps is None or not caps.configuration:
            return
        values = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="tokenlight")])
        )
        raw = values[0] if values else None
    ls.settings, problems = ls.settings.updated(raw)
    ls.show_problems(problems)


def work_done_progress_cancel(ls: TokenlightServer, params: types.WorkDoneProgressCancelParams) -> None:
    """``window/workDoneProgress/cancel``: stop the job reporting under that token."""
    job = ls.progress_jobs.get(params.token)
    if job is not None:
        job.cancel()


# ----------------------------------------------------------------------------------------------
# document sync


def did_open(ls: TokenlightServer, params: types.DidOpenTextDocumentParams) -> None:
    """``textDocument/didOpen``: a (re)opened document starts without results."""
    uri = params.text_document.uri
    ls.dropped(uri, ls.store.close(uri), "reopened")


def did_change(ls: TokenlightServer, params: types.DidChangeTextDocumentParams) -> None:
    """``textDocument/didChange`` (incremental): apply each change, moving the results after it
    and dropping those whose text it touches (their hints and diagnostics go with them)."""
    uri = params.text_document.uri
    doc = ls.workspace.text_documents.get(unquote(uri))
    if doc is None:
        log.warning("didChange for %s, which is not open: ignored", uri)
        return
    dropped: list[StoredResult] = []
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            index = TextIndex(doc)
            start, end = index.clamped_offset(change.range.start), index.clamped_offset(change.range.end)
            start, end = min(start, end), max(start, end)
        else:
            start, end = 0, len(doc.source)
        ls.workspace.update_text_document(params.text_document, change)
        dropped += ls.store.apply_edit(uri, start, end, len(change.text))
    if dropped:
        ls.dropped(uri, dropped, "edited")
    elif ls.store.has_results(uri):
        ls.publish(uri)  # the diagnostics moved with their results


def did_close(ls: TokenlightServer, params: types.DidCloseTextDocumentParams) -> None:
    """``textDocument/didClose``: drop the document's results and clear its diagnostics."""
    uri = params.text_document.uri
    ls.notify_dropped(uri, ls.store.close(uri), "closed")
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


# ----------------------------------------------------------------------------------------------
# editor features


def hover(ls: TokenlightServer, params: types.HoverParams) -> types.Hover | None:
    """``textDocument/hover``: a source token's scores, or a following target's probability,
    delta and top sources. Answered from stored data while jobs run."""
    uri = params.text_document.uri
    if not ls.store.has_results(uri):
        return None
    index = TextIndex(ls.document(uri, types.TEXT_DOCUMENT_HOVER))
    try:
        offset = index.offset(params.position)
    except PositionError:
        return None
    hit = ls.store.token_at(uri, offset)
    if hit is None:
        return None
    base = hit.result.anchor.start if hit.side == "source" else hit.result.anchor.prompt_end
    tok = (hit.result.data.source_tokens if hit.side == "source" else hit.result.data.target_tokens)[hit.index]
    assert tok.start is not None and tok.end is not None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hover_markdown(hit)),
        range=index.range(base + tok.start, base + tok.end),
    )


def inlay_hint(ls: TokenlightServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    """``textDocument/inlayHint``: each generated continuation as ghost text after its selection."""
    uri = params.text_document.uri
    results = ls.store.results(uri)
    if not results:
        return []
    return inlay_hints(results, TextIndex(ls.document(uri, types.TEXT_DOCUMENT_INLAY_HINT)), params.range)


# ----------------------------------------------------------------------------------------------
# tokenlight/* requests


async def attribute(ls: TokenlightServer, params: Any) -> dict[str, Any]:
    """``tokenlight/attribute``: attribute the selection's continuation (queued on the worker)."""
    started = time.perf_counter()
    p = proto.parse_attribute(params)
    doc = ls.document(p.uri, proto.ATTRIBUTE)
    index = TextIndex(doc)
    try:
        start, end = index.selection(p.range)
    except PositionError as exc:
        raise proto.invalid_params(f"{proto.ATTRIBUTE}: range: {exc}") from None
    settings = ls.settings
    method = p.method or settings.method
    if ls.methods is not None and method not in (ids := [m["id"] for m in ls.methods]):
        raise proto.invalid_params(f"unknown method {method!r}; choose one of: {', '.join(ids)}", validMethods=ids)
    target = _resolve_target(p.target, settings.max_new_tokens, index.source[end:])
    job = Job(
        model=ls.model_request(settings.model, settings.device, settings.dtype),
        prompt=index.source[start:end],
        target=target,
        method=method,
        options=dataclasses.replace(
            p.options,
            n_steps=p.options.n_steps if p.options.n_steps is not None else settings.n_steps,
            baseline=p.options.baseline or settings.baseline,
            step_function=p.options.step_function or settings.step_function,
        ),
    )
    ls.ensure_methods()
    anchor = ls.store.reserve(p.uri, start, end)
    try:
        data, queued = await _run(
            ls, "attribute", lambda ctx: ls.runner.attribute(job, ctx.report, ctx.is_cancelled), p.work_done_token
        )
    finally:
        ls.store.release(anchor)
    doc = ls.workspace.text_documents.get(unquote(p.uri))
    index = TextIndex(doc) if doc is not None else None
    if target.kind == "following":
        anchor.end = anchor.prompt_end + len(data.continuation)
    if (
        index is None
        or not anchor.alive
        or index.source[anchor.start : anchor.prompt_end] != data.prompt
        or (target.kind == "following" and index.source[anchor.prompt_end : anchor.end] != data.continuation)
    ):
        raise JsonRpcException(
            message="the selection was edited (or its document closed) while it was being attributed; run it again",
            code=proto.ErrorCode.CONTENT_MODIFIED,
        )
    stored, replaced = ls.store.add(anchor, data, target.kind)
    if replaced:
        log.info("%s replaces %s", stored.id, ", ".join(r.id for r in replaced))
        ls.notify_dropped(p.uri, replaced, "replaced")
    ls.publish(p.uri)
    ls.refresh_inlay_hints()
    result = proto.attribute_result(stored, index, (time.perf_counter() - started) * 1000)
    result["job"] = _job_times(ls, queued)
    return result


async def methods(ls: TokenlightServer, params: Any) -> list[dict[str, Any]]:
    """``tokenlight/methods``: every attribution method's describe() (the engine is imported on the
    worker once; later calls answer from the kept list, even while a job runs)."""
    if ls.methods is not None:
        return ls.methods
    try:
        return list(await asyncio.shield(ls.ensure_methods()))
    except Exception as exc:
        raise _rpc_error(exc) from None


async def load_model(ls: TokenlightServer, params: Any) -> dict[str, Any]:
    """``tokenlight/loadModel``: load (or keep) a model and make it this client's default for later
    requests (other clients keep theirs: the next job that asks for another model loads that one)."""
    p = proto.parse_load_model(params)
    request = ls.model_request(p.model, p.device or ls.settings.device, p.dtype or ls.settings.dtype)
    info, _ = await _run(ls, "load model", lambda ctx: ls.runner.load(request, ctx.report), p.work_done_token)
    ls.settings, _ = ls.settings.updated({"model": request.name, "device": request.device, "dtype": request.dtype})
    return proto.load_model_result(info)


def status(ls: TokenlightServer, params: Any) -> dict[str, Any]:
    """``tokenlight/status``: the resident model, memory in use, the shared queue (this client's
    jobs marked ``mine``; other clients' jobs show only their id, kind and state), the cache. A
    remote client sees no local paths: no cache folder, a model folder by its last name only."""
    info = ls.runner.info
    jobs = ls.worker.jobs()
    remote = ls.model_roots is not None
    model = info.name if info else None
    return {
        "model": public_model_name(model) if remote else model,
        "device": info.device if info else None,
        "dtype": info.dtype if info else None,
        "memory": ls.runner.memory_bytes(),
        "busy": ls.worker.busy,
        "queue": sum(1 for _, state in jobs if state == "queued"),
        "jobs": [
            {"id": job.id, "name": job.name, "state": state, "mine": job.owner == ls.session_id} for job, state in jobs
        ],
        "sessions": len(ls.backend.sessions),
        "cache": {
            "entries": ls.cache.entries(),
            "hits": ls.cache.hits,
            "directory": None if remote else str(ls.cache.directory),
            "enabled": ls.cache.enabled,
        },
        "settings": ls.settings.as_dict(),
        "engineImported": "torch" in sys.modules,
        "startup": dict(ls.startup),
        "version": __version__,
    }


def clear(ls: TokenlightServer, params: Any) -> None:
    """``tokenlight/clear``: drop a document's results, inlay hints and diagnostics."""
    uri = proto.parse_text_document(params, proto.CLEAR)
    ls.notify_dropped(uri, ls.store.clear(uri), "cleared")
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    ls.refresh_inlay_hints()


def focus(ls: TokenlightServer, params: Any) -> None:
    """``tokenlight/focus``: which target of a result hover refers to (null: the sum)."""
    result_id, target = proto.parse_focus(params)
    stored = ls.store.get(result_id)
    if stored is None:
        raise proto.invalid_params(
            f"{proto.FOCUS}: no result {result_id!r}: it was cleared, or dropped when its text was edited; "
            "run tokenlight/attribute again"
        )
    n = len(stored.data.target_tokens)
    if target is not None and not 0 <= target < n:
        raise proto.invalid_params(f"{proto.FOCUS}: result {result_id} has targets 0..{n - 1}; got {target}")
    stored.focus = target


# ----------------------------------------------------------------------------------------------
# helpers


def _resolve_target(spec: proto.TargetSpec | None, default_tokens: int, rest: str) -> proto.TargetSpec:
    if spec is None or spec.kind == "generate":
        tokens = spec.max_new_tokens if spec is not None and spec.max_new_tokens else default_tokens
        return proto.TargetSpec("generate", max_new_tokens=tokens)
    if spec.kind == "following":
        if rest == "":
            raise proto.invalid_params(
                f'{proto.ATTRIBUTE}: target kind "following" attributes the text after the selection, '
                'and nothing follows it; select less, or use kind "generate"'
            )
        return proto.TargetSpec("following", text=rest, max_tokens=spec.max_tokens or default_tokens)
    return spec


async def _run(ls: TokenlightServer, name: str, work: Callable, token: int | str | None) -> tuple[Any, QueuedJob]:
    """Queue ``work`` on the shared worker with progress under ``token``; map its failure to an
    error. Returns the value and the finished job (for its times).

    The await is where ``$/cancelRequest`` lands (CancelledError): the job's cancel flag is set,
    the engine stops at its next chunk, and pygls answers RequestCancelled. A client that
    disconnects cancels its handlers the same way.
    """
    progress = WorkDone(ls, token, f"Tokenlight: {name}")
    job = ls.worker.submit(name, work, on_progress=progress.report, owner=ls.session_id)
    if token is not None:
        ls.progress_jobs[token] = job
    try:
        value = await job.future
    except asyncio.CancelledError:
        job.cancel()
        progress.end("cancelled")
        raise
    except Exception as exc:
        cancelled = is_cancelled_error(exc)
        progress.end("cancelled" if cancelled else "failed")
        if cancelled:
            raise JsonRpcRequestCancelled(f"{name} cancelled") from None
        raise _rpc_error(exc) from None
    finally:
        if token is not None and ls.progress_jobs.get(token) is job:
            del ls.progress_jobs[token]
            ls.ended_progress_tokens.append(token)
    progress.end("done")
    return value, job


def _job_times(ls: TokenlightServer, job: QueuedJob) -> dict[str, Any]:
    """Where a request's job sat in the shared queue: its number (arrival order across all
    clients), how long it waited, and when it ran (ms since the daemon started)."""
    started = job.started if job.started is not None else job.submitted
    return {
        "id": job.id,
        "waitedMs": round((started - job.submitted) * 1000, 3),
        "startedMs": ls.backend.ms(job.started),
        "finishedMs": ls.backend.ms(job.finished),
    }


def _rpc_error(exc: Exception) -> JsonRpcException:
    """An engine failure as a JSON-RPC error whose message the user can act on."""
    if isinstance(exc, JsonRpcException):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "InputError" in names:
        return proto.invalid_params(str(exc), kind=type(exc).__name__)
    if "TokenlightError" in names:
        return proto.request_failed(str(exc), type(exc).__name__)
    if isinstance(exc, MemoryError):
        return proto.request_failed("out of memory: select less text or use a smaller model", "OutOfMemory")
    log.error("internal error: %s", "".join(traceback.format_exception(exc)))
    return JsonRpcInternalError(
        message=f"internal error in Tokenlight ({type(exc).__name__}: {exc}); the daemon log has the details",
        data={"traceback": traceback.format_tb(exc.__traceback__)},
    )


# ----------------------------------------------------------------------------------------------


def build_server(
    *, token: str | None = None, cache: ResultCache | None = None, backend: Backend | None = None
) -> TokenlightServer:
    """A session with every feature registered: the one session of a stdio daemon, or one per
    connection in remote mode (all on the same ``backend``; a new one when none is given)."""
    ls = TokenlightServer(token=token, cache=cache, backend=backend)
    ls.feature(types.INITIALIZE)(initialize)
    ls.feature(types.INITIALIZED)(initialized)
    ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    ls.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(work_done_progress_cancel)
    ls.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
    ls.feature(types.TEXT_DOCUMENT_HOVER)(hover)
    ls.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))(inlay_hint)
    ls.feature(proto.ATTRIBUTE)(attribute)
    ls.feature(proto.METHODS)(methods)
    ls.feature(proto.LOAD_MODEL)(load_model)
    ls.feature(proto.STATUS)(status)
    ls.feature(proto.CLEAR)(clear)
    ls.feature(proto.FOCUS)(focus)
    return ls
