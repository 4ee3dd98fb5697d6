"""One worker thread, a FIFO queue of heavy jobs, and the bridge back to the event loop.

Why a thread of our own rather than pygls' ``@server.thread()``: a threaded handler is not
interrupted by ``$/cancelRequest`` and still sends its result, and heavy jobs must run one at a time
(one model, one GPU). So each heavy request is an ``async`` handler that submits a job here and
awaits its future; when pygls cancels the handler, the handler sets the job's cancel event and the
engine stops at its next chunk boundary (the engine polls ``is_cancelled``). The event loop stays
free for hover, inlay hints, status and methods meanwhile.

Nothing here talks to the client: results, errors and progress reach the event loop through
``loop.call_soon_threadsafe``, and only the event loop writes to the transport.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Work = Callable[["JobContext"], Any]


class JobCancelled(Exception):
    """A job cancelled before it started."""


@dataclass
class JobContext:
    """What a running job may use: its cancel flag and a thread-safe progress callback."""

    cancelled: threading.Event
    report: Callable[[str, int | None], None]

    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()


@dataclass
class QueuedJob:
    id: int
    name: str
    work: Work
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    context: JobContext

    def cancel(self) -> None:
        """Ask the job to stop (before it starts: it is skipped; while running: at the next chunk)."""
        self.context.cancelled.set()


class Worker:
    """Runs submitted jobs one at a time, in order, on a daemon thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[QueuedJob | None] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._pending = 0
        self._lock = threading.Lock()
        self.current: QueuedJob | None = None
        self._thread = threading.Thread(target=self._run, name="tokenlight-worker", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self.current is not None

    @property
    def queued(self) -> int:
        """Jobs waiting behind the running one."""
        with self._lock:
            return self._pending

    def submit(
        self,
        name: str,
        work: Work,
        *,
        on_progress: Callable[[str, int | None], None] | None = None,
    ) -> QueuedJob:
        """Queue ``work(context)``; must be called on the event loop, whose future gets the result.

        ``on_progress(message, percentage)`` is called on the event loop for each report.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def report(message: str, percentage: int | None) -> None:
            if on_progress is not None and not loop.is_closed():
                loop.call_soon_threadsafe(on_progress, message, percentage)

        job = QueuedJob(next(self._ids), name, work, future, loop, JobContext(threading.Event(), report))
        with self._lock:
            self._pending += 1
        self._queue.put(job)
        return job

    def stop(self) -> None:
        self._queue.put(None)

    # ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                self._pending -= 1
            if job.context.is_cancelled() or job.future.cancelled():
                self._settle(job, None, JobCancelled())
                continue
            self.current = job
            try:
                value = job.work(job.context)
            except BaseException as exc:  # delivered to the awaiting handler, which maps it
                self.current = None
                if not isinstance(exc, Exception):
                    log.exception("job %s (%s) stopped the worker", job.id, job.name)
                    raise
                self._settle(job, None, exc)
            else:
                # idle *before* the answer is scheduled: a client that asks for status right after
                # the answer must not see the finished job as still running
                self.current = None
                self._settle(job, value, None)

    @staticmethod
    def _settle(job: QueuedJob, value: Any, error: BaseException | None) -> None:
        def deliver() -> None:
            if job.future.done():  # cancelled by the client meanwhile: nobody waits for it
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(value)

        if not job.loop.is_closed():
            job.loop.call_soon_threadsafe(deliver)


def is_cancelled_error(exc: BaseException) -> bool:
    """True for a job that stopped because it was cancelled (before starting or between chunks)."""
    return isinstance(exc, JobCancelled) or type(exc).__name__ == "AttributionCancelled"
