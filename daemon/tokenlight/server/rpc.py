"""Tokenlight's pygls protocol subclass: how JSON-RPC messages reach the session's handlers.

Not to be confused with :mod:`.protocol`, which holds the ``tokenlight/*`` message names, parsers
and result shapes: this module changes how pygls dispatches messages, nothing about what they mean.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Generator
from typing import Any, Protocol, cast

from lsprotocol import types
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import RPCRequest

from . import protocol as proto
from .errors import ErrorCode
from .positions import LspLinesWorkspace

log = logging.getLogger(__name__)


class SessionState(Protocol):
    """What the dispatcher reads of the session it serves (a :class:`~.session.Session`, which
    imports this module: named here as a protocol so that the two do not import each other)."""

    @property
    def authenticated(self) -> bool: ...

    @property
    def session_id(self) -> int: ...

    @property
    def close_connection(self) -> Callable[[], None] | None: ...

    @property
    def progress_jobs(self) -> Container[int | str]: ...

    @property
    def ended_progress_tokens(self) -> Container[int | str]: ...


class TokenlightProtocol(LanguageServerProtocol):
    """pygls' protocol with these changes: ``tokenlight/*`` params stay plain JSON; a token gate for
    remote mode; didChange left to our handler (which must see each change's span *before* it is
    applied, to move stored results); documents split into lines the way LSP does (see
    :class:`~.positions.LspLinesWorkspace`); and in remote mode ``exit`` ends the connection, not
    the daemon that other clients share."""

    @property
    def session(self) -> SessionState:
        return cast(SessionState, self._server)

    # pygls memoises these two with a class-level functools.lru_cache keyed on (self, method): it would
    # keep the last hundred-odd protocols, and with them ended sessions' documents and results, alive.
    # (So the override is a plain method where pygls declares an lru_cache wrapper: hence the ignores.)
    def get_message_type(self, method: str) -> type[Any] | None:  # type: ignore[override]
        if proto.is_custom(method) and method not in proto.SERVER_NOTIFICATIONS:
            return proto.RawRequestMessage
        return types.METHOD_TO_TYPES.get(method, (None,))[0]

    def get_result_type(self, method: str) -> type[Any] | None:  # type: ignore[override]
        return types.METHOD_TO_TYPES.get(method, (None, None))[1]

    def handle_message(self, message: Any) -> None:
        server = self.session
        method = getattr(message, "method", None)
        if not server.authenticated and method not in (None, types.INITIALIZE, types.EXIT):
            if isinstance(message, RPCRequest):
                self._send_response(
                    message.id,
                    error=types.ResponseError(
                        code=ErrorCode.SERVER_NOT_INITIALIZED,
                        message="initialize first, with the daemon's token in initializationOptions.token",
                    ),
                )
            return
        super().handle_message(message)

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        # pygls builds its Workspace before it hands over to our initialize handler (its first
        # yield); no document is open yet, so swapping in one with LSP line breaks loses nothing
        steps = super().lsp_initialize(params)
        try:
            request = next(steps)
        except StopIteration as done:
            self._adopt_lsp_lines()
            return _initialize_result(done)
        self._adopt_lsp_lines()
        while True:
            value = yield request
            try:
                request = steps.send(value)
            except StopIteration as done:
                return _initialize_result(done)

    def _adopt_lsp_lines(self) -> None:
        workspace = self._workspace
        if workspace is not None and not isinstance(workspace, LspLinesWorkspace):
            self._workspace = LspLinesWorkspace.like(workspace)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        close = self.session.close_connection
        if close is None:  # stdio: the process ends, as pygls does it
            yield from super().lsp_exit(*args)
            return
        # remote: this client leaves; the daemon goes on serving the others and the next
        log.info("session %d: exit: closing its connection", self.session.session_id)
        close()

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None
        else:  # keep the document in sync even without our handler
            for change in params.content_changes:
                self.workspace.update_text_document(params.text_document, change)

    @lsp_method(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def lsp_work_done_progress_cancel(self, params: types.WorkDoneProgressCancelParams) -> Generator[Any, Any, None]:
        # pygls only knows progress tokens the *server* created and warns about any other; ours are
        # the client's workDoneTokens (VS Code's Cancel sends one with every cancellation), which our
        # handler maps to the job. Unknown to both: pygls' own handling (and its warning) as before.
        if params.token in self.session.progress_jobs:
            if (handler := self.fm.features.get(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)) is not None:
                yield handler, (params,), None
            return
        if params.token in self.session.ended_progress_tokens:
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


def _initialize_result(done: StopIteration) -> types.InitializeResult:
    """What pygls' initialize generator returned (StopIteration.value is typed Any)."""
    result: types.InitializeResult = done.value
    return result
