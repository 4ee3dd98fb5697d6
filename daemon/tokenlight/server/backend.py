"""What every session of one daemon process shares: the worker, the runner, the cache, the methods.

Over stdio there is one session; in remote mode (:mod:`.transport`) each connection gets its own
:class:`~.session.Session` on the one :class:`Backend`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING, Any

from ..cache import ResultCache
from .runner import Runner
from .worker import Worker

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer


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
        self.sessions: dict[int, LanguageServer] = {}  # the sessions (.session.Session) connected now
        self._session_ids = itertools.count(1)
        self.started = time.monotonic()

    def attach(self, session: LanguageServer) -> int:
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
