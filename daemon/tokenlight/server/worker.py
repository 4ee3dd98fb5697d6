"""One worker thread, a FIFO queue of heavy jobs, and the bridge back to the event loop.

Why a thread of our own rather than pygls' ``@server.thread()``: a threaded handler is not
interrupted by ``$/cancelRequest`` and still sends its result, and heavy jobs must run one at a time
(one model, one GPU). So each heavy request is an ``async`` handler that submits a job here and
awaits its future; when pygls cancels the handler, the handler sets the job's cancel event and the
engine stops at its next chunk boundary (the engine polls ``is_cancelled``). The event loop stays
free for hover, inlay hints, status and methods meanwhile.

In remote mode every connected client submits to this one worker (one model, one GPU): jobs run
one at a time in the order they arrived, whichever client sent them. A job remembers its ``owner``
(the session that submitted it), so that a client that disconnects cancels its own jobs and no
one else's, and ``tokenlight/status`` can show each client the shared queue with its own jobs marked.

Nothing here talks to the client: results, errors and progress reach the event loop through
``loop.call_soon_threadsafe``, and only the event loop writes to the transport.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
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
    """A job and its life on the worker. Times are ``time.monotonic()`` seconds: ``submitted`` on the
    event loop, ``started`` and ``finished`` on the worker thread (None until then; both stay None for
    a job skipped because it was cancelled while it waited)."""

    id: int  # arrival order at the worker, across every client
    name: str
    work: Work
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    context: JobContext
    owner: int | None = None  # the session that submitted it; None: the daemon's own (the method list)
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None

    def cancel(self) -> None:
        """Ask the job to stop (before it starts: it is skipped; while running: at the next chunk)."""
        self.context.cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self.context.is_cancelled() or self.future.cancelled()


class Worker:
    """Runs submitted jobs one at a time, in order of arrival, on a daemon thread."""

    def __init__(self) -> None:
        self._waiting: deque[QueuedJob | None] = deque()  # None: stop
        self._ready = threading.Condition()
        self._ids = itertools.count(1)
        self.current: QueuedJob | None = None
        self._thread = threading.Thread(target=self._run, name="tokenlight-worker", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self.current is not None

    @property
    def queued(self) -> int:
        """Jobs waiting behind the running one (not counting cancelled ones, which will be skipped)."""
        return sum(1 for _, state in self.jobs() if state == "queued")

    def jobs(self) -> list[tuple[QueuedJob, str]]:
        """The running job (``"running"``) then the waiting ones (``"queued"``), in the order they
        will run; a waiting job already cancelled is left out (the worker will skip it)."""
        with self._ready:
            waiting = [job for job in self._waiting if job is not None and not job.cancelled]
            current = self.current
        return ([(current, "running")] if current is not None else []) + [(job, "queued") for job in waiting]

    def cancel_owned_by(self, owner: int) -> list[QueuedJob]:
        """Cancel every job ``owner`` submitted that has not finished (the waiting ones are skipped,
        a running one stops at its next chunk); returns them."""
        hit = [job for job, _ in self.jobs() if job.owner == owner and not job.cancelled]
        for job in hit:
            job.cancel()
        return hit

    def submit(
        self,
        name: str,
        work: Work,
        *,
        on_progress: Callable[[str, int | None], None] | None = None,
        owner: int | None = None,
    ) -> QueuedJob:
        """Queue ``work(context)``; must be called on the event loop, whose future gets the result.

        ``on_progress(message, percentage)`` is called on the event loop for each report; ``owner``
        is the submitting session's id.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def report(message: str, percentage: int | None) -> None:
            if on_progress is not None and not loop.is_closed():
                loop.call_soon_threadsafe(on_progress, message, percentage)

        with self._ready:
            job = QueuedJob(next(self._ids), name, work, future, loop, JobContext(threading.Event(), report), owner)
            self._waiting.append(job)
            self._ready.notify()
        log.debug("job %d (%s, session %s) queued behind %d", job.id, name, owner, len(self._waiting) - 1)
        return job

    def stop(self) -> None:
        """Stop after the jobs already queued."""
        with self._ready:
            self._waiting.append(None)
            self._ready.notify()

    # ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            # let go of the last job before waiting: its closures hold its session (documents,
            # results) and its value a whole result, which must not outlive a client that has left
            job = value = None
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
                job = self._waiting.popleft()
                if job is None:
                    return
                if not job.cancelled:
                    job.started = time.monotonic()
                    self.current = job  # under the lock: jobs() never sees it neither waiting nor running
            if job.started is None:
                log.debug("job %d (%s, session %s) was cancelled while it waited: skipped", job.id, job.name, job.owner)
                self._settle(job, None, JobCancelled())
                continue
            try:
                value = job.work(job.context)
            except BaseException as exc:  # delivered to the awaiting handler, which maps it
                job.finished = time.monotonic()
                self.current = None
                if not isinstance(exc, Exception):
                    # e.g. a library calling sys.exit(): were the worker to die, every later request
                    # would wait forever; this one fails with an internal error, the next ones run
                    log.exception("job %s (%s) raised %s; the worker goes on", job.id, job.name, type(exc).__name__)
                    exc = RuntimeError(f"the job ended with {type(exc).__name__}: {exc}")
                self._settle(job, None, exc)
            else:
                # idle *before* the answer is scheduled: a client that asks for status right after
                # the answer must not see the finished job as still running
                job.finished = time.monotonic()
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
