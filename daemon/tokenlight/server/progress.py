"""Work-done progress under the client's ``workDoneToken``, throttled.

The engine reports after every backward pass (hundreds a second on a small model); a client needs
a few a second. Reports arrive on the event loop (the worker marshals them with
``call_soon_threadsafe``) and are sent at most every :data:`MIN_INTERVAL` seconds; the first report
and a change of phase ("loading model" -> "target k of T") always go out.
"""

from __future__ import annotations

import time

from lsprotocol import types
from pygls.lsp.server import LanguageServer

MIN_INTERVAL = 0.1


class WorkDone:
    """``$/progress`` begin / report / end for one request; does nothing without a token."""

    def __init__(self, server: LanguageServer, token: int | str | None, title: str) -> None:
        self._server = server
        self.token = token
        self._last_sent = 0.0
        self._last_phase: str | None = None
        self._ended = False
        if token is not None:
            server.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0)
            )

    def report(self, message: str, percentage: int | None) -> None:
        if self.token is None or self._ended:
            return
        now = time.monotonic()
        phase = message.split(" ", 1)[0]
        if phase == self._last_phase and now - self._last_sent < MIN_INTERVAL and percentage != 100:
            return
        self._last_sent, self._last_phase = now, phase
        self._server.work_done_progress.report(
            self.token, types.WorkDoneProgressReport(message=message, percentage=percentage, cancellable=True)
        )

    def end(self, message: str) -> None:
        if self.token is None or self._ended:
            return
        self._ended = True
        self._server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self._server.work_done_progress.tokens.pop(self.token, None)
