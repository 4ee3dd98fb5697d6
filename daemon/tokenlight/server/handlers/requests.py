"""The ``tokenlight/*`` requests: attribute, compare, against, diff, methods, stepFunctions,
loadModel, status, clear and focus."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from ...engine.errors import UnknownMethodError
from ...version import __version__
from .. import protocol as proto
from ..documents import Anchor
from ..errors import ErrorCode, invalid_params, rpc_error
from ..jobs import AttributionJob
from ..model_roots import public_model_name
from ..positions import PositionError, TextIndex
from ..progress import WorkDone
from ..results import PartialData
from ..session import Session
from ..worker import QueuedJob, Work, is_cancelled_error

log = logging.getLogger(__name__)


async def attribute(ls: Session, params: Any) -> dict[str, Any]:
    """``tokenlight/attribute``: attribute the selection's continuation (queued on the worker)."""
    started = time.perf_counter()
    p = proto.parse_attribute(params)
    index, start, end = _selection(ls, p.uri, p.range, proto.ATTRIBUTE)
    settings = ls.settings
    method = p.method or settings.method
    if ls.methods is not None and method not in (ids := [m["id"] for m in ls.methods]):
        # answered before queueing, from the registry's list; the engine is the authority otherwise
        raise rpc_error(UnknownMethodError(method, ids))
    target = _resolve_target(p.target, settings.options["max_new_tokens"], index.source[end:])
    options = settings.request_options(p.options)
    proto.refuse_code_references(options)
    selection_start = None
    if options.get("context") == "document":  # the document from its start to the selection's end
        start, selection_start = 0, start
    job = AttributionJob(
        model=ls.model_request(settings.model, settings.device, settings.dtype),
        prompt=index.source[start:end],
        target=target,
        method=method,
        options=options,
        selection_start=selection_start,
        symbols=_symbols(index, p.symbols, start, end),
    )
    ls.ensure_methods()
    anchor = ls.store.reserve(p.uri, start, end)
    partial = _partial_sender(ls, p.uri, anchor, p.partial_result_token)
    try:
        data, queued = await _run(
            ls,
            "attribute",
            lambda ctx: ls.runner.attribute(job, ctx.report, ctx.is_cancelled, partial),
            p.work_done_token,
        )
    finally:
        ls.store.release(anchor)
    doc_now = ls.workspace.text_documents.get(unquote(p.uri))
    current = TextIndex(doc_now) if doc_now is not None else None  # the text as it is after the job
    if target.kind == "following":
        anchor.end = anchor.prompt_end + len(data.continuation)
    if (
        current is None
        or not anchor.alive
        or current.source[anchor.start : anchor.prompt_end] != data.prompt
        or (target.kind == "following" and current.source[anchor.prompt_end : anchor.end] != data.continuation)
    ):
        raise JsonRpcException(
            message="the selection was edited (or its document closed) while it was being attributed; run it again",
            code=ErrorCode.CONTENT_MODIFIED,
        )
    stored, replaced = ls.store.add(anchor, data, target.kind)
    if replaced:
        log.info("%s replaces %s", stored.id, ", ".join(r.id for r in replaced))
        ls.notify_dropped(p.uri, replaced, "replaced")
    ls.publish(p.uri)
    ls.refresh_inlay_hints()
    result = proto.attribute_result(stored, current, (time.perf_counter() - started) * 1000)
    result["job"] = _job_times(ls, queued)
    return result


async def compare(ls: Session, params: Any) -> dict[str, Any]:
    """``tokenlight/compare``: run several methods on the selection, evaluate each, recommend one.
    The answer is the engine's report (plain data); nothing is stored against the document."""
    started = time.perf_counter()
    c = proto.parse_compare(params)
    p = c.attribute
    index, start, end = _selection(ls, p.uri, p.range, proto.COMPARE)
    settings = ls.settings
    target = _resolve_target(p.target, settings.options["max_new_tokens"], index.source[end:])
    job = AttributionJob(
        model=ls.model_request(settings.model, settings.device, settings.dtype),
        prompt=index.source[start:end],
        target=target,
        method="",
        options=settings.request_options(p.options),
    )
    report, queued = await _run(
        ls, "compare", lambda ctx: ls.runner.compare(job, c.methods, ctx.report, ctx.is_cancelled), p.work_done_token
    )
    return {**report, "elapsedMs": round((time.perf_counter() - started) * 1000, 3), "job": _job_times(ls, queued)}


async def against(ls: Session, params: Any) -> dict[str, Any]:
    """``tokenlight/against``: attribute two ranges of a document for the same target (the first's)
    and answer the token-aligned differences; nothing is stored against the document."""
    started = time.perf_counter()
    a = proto.parse_against(params)
    p = a.attribute
    index = TextIndex(ls.document(p.uri, proto.AGAINST))
    try:
        start, end = index.selection(p.range)
        other_start, other_end = index.selection(a.other_range)
    except PositionError as exc:
        raise invalid_params(f"{proto.AGAINST}: {exc}") from None
    settings = ls.settings
    target = _resolve_target(p.target, settings.options["max_new_tokens"], index.source[end:])
    if target.kind == "following":
        raise invalid_params(f'{proto.AGAINST}: target kind "following" needs one selection; use "generate" or "text"')
    job = AttributionJob(
        model=ls.model_request(settings.model, settings.device, settings.dtype),
        prompt=index.source[start:end],
        target=target,
        method=p.method or settings.method,
        options=settings.request_options(p.options),
    )
    other = index.source[other_start:other_end]
    report, queued = await _run(ls, "against", lambda ctx: ls.runner.against(job, other, ctx.report), p.work_done_token)
    return {**report, "elapsedMs": round((time.perf_counter() - started) * 1000, 3), "job": _job_times(ls, queued)}


async def diff(ls: Session, params: Any) -> dict[str, Any]:
    """``tokenlight/diff``: the difference B − A of two results the client holds (its "Compare With
    Previous"), aligned by token text; tokens present in one only are listed. No model is needed:
    it runs beside the worker's queue (on a thread, the loop stays free), never behind a long job."""
    a, b = proto.parse_diff(params)
    return await asyncio.to_thread(ls.runner.diff, a, b)


async def methods(ls: Session, params: Any) -> list[dict[str, Any]]:
    """``tokenlight/methods``: every attribution method's describe() (the engine is imported on the
    worker once; later calls answer from the kept list, even while a job runs)."""
    if ls.methods is not None:
        return ls.methods
    try:
        return list(await asyncio.shield(ls.ensure_methods()))
    except Exception as exc:
        raise rpc_error(exc) from None


async def step_functions(ls: Session, params: Any) -> list[dict[str, Any]]:
    """``tokenlight/stepFunctions``: every step function a client may name in
    ``options.stepFunction`` (built-ins, registered ones, installed entry points), each with its
    description and whether it needs a contrast; listed on the worker (the engine is imported there)."""
    value, _ = await _run(ls, "step functions", lambda _ctx: ls.runner.step_functions(), None)
    return list(value)


async def load_model(ls: Session, params: Any) -> dict[str, Any]:
    """``tokenlight/loadModel``: load (or keep) a model and make it this client's default for later
    requests (other clients keep theirs: the next job that asks for another model loads that one)."""
    p = proto.parse_load_model(params)
    request = ls.model_request(p.model, p.device or ls.settings.device, p.dtype or ls.settings.dtype)
    info, _ = await _run(ls, "load model", lambda ctx: ls.runner.load(request, ctx.report), p.work_done_token)
    ls.settings, _ = ls.settings.updated({"model": request.name, "device": request.device, "dtype": request.dtype})
    return proto.load_model_result(info)


def status(ls: Session, params: Any) -> dict[str, Any]:
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


def clear(ls: Session, params: Any) -> None:
    """``tokenlight/clear``: drop a document's results, inlay hints and diagnostics."""
    uri = proto.parse_text_document(params, proto.CLEAR)
    ls.notify_dropped(uri, ls.store.clear(uri), "cleared")
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    ls.refresh_inlay_hints()


def focus(ls: Session, params: Any) -> None:
    """``tokenlight/focus``: which target of a result hover refers to (null: the sum)."""
    result_id, target = proto.parse_focus(params)
    stored = ls.store.get(result_id)
    if stored is None:
        raise invalid_params(
            f"{proto.FOCUS}: no result {result_id!r}: it was cleared, or dropped when its text was edited; "
            "run tokenlight/attribute again"
        )
    n = len(stored.data.target_tokens)
    if target is not None and not 0 <= target < n:
        raise invalid_params(f"{proto.FOCUS}: result {result_id} has targets 0..{n - 1}; got {target}")
    stored.focus = target


# ----------------------------------------------------------------------------------------------
# helpers


def _partial_sender(
    ls: Session, uri: str, anchor: Anchor, token: int | str | None
) -> Callable[[PartialData], None] | None:
    """For a ``partialResultToken``: a callback for the worker thread that sends each group of
    finished targets as ``$/progress`` from the event loop (only the loop writes to the client),
    with source ranges where the selection is now (edits move the anchor)."""
    if token is None:
        return None
    loop = asyncio.get_running_loop()
    sent = [0]

    def send(part: PartialData) -> None:
        doc = ls.workspace.text_documents.get(unquote(uri))
        if doc is None or not anchor.alive:
            return  # the answer will say what happened
        value = proto.attribute_partial(part, anchor.start, TextIndex(doc), first=sent[0] == 0)
        sent[0] += 1
        ls.protocol.notify(types.PROGRESS, types.ProgressParams(token=token, value=value))

    def from_worker(part: PartialData) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(send, part)

    return from_worker


def _symbols(
    index: TextIndex, symbols: tuple[proto.DocumentSymbol, ...], start: int, end: int
) -> tuple[tuple[int, int, str, str], ...]:
    """The editor's symbols as code points into the prompt ``[start, end)``, cut to it."""
    out = []
    for i, symbol in enumerate(symbols):
        try:
            a, b = index.selection(symbol.range)
        except PositionError as exc:
            raise invalid_params(f"{proto.ATTRIBUTE}: symbols[{i}].range: {exc}") from None
        a, b = max(a, start), min(b, end)
        if a < b:
            out.append((a - start, b - start, symbol.kind, symbol.name))
    return tuple(out)


def _selection(ls: Session, uri: str, rng: types.Range, request: str) -> tuple[TextIndex, int, int]:
    """The open document's text index and the range as code points ``[start, end)``; a range that
    is not in the document is invalid params naming ``request``."""
    index = TextIndex(ls.document(uri, request))
    try:
        start, end = index.selection(rng)
    except PositionError as exc:
        raise invalid_params(f"{request}: range: {exc}") from None
    return index, start, end


def _resolve_target(spec: proto.TargetSpec | None, default_tokens: int, rest: str) -> proto.TargetSpec:
    if spec is None or spec.kind == "generate":
        tokens = spec.max_new_tokens if spec is not None and spec.max_new_tokens else default_tokens
        return proto.TargetSpec("generate", max_new_tokens=tokens)
    if spec.kind == "following":
        if rest == "":
            raise invalid_params(
                f'{proto.ATTRIBUTE}: target kind "following" attributes the text after the selection, '
                'and nothing follows it; select less, or use kind "generate"'
            )
        return proto.TargetSpec("following", text=rest, max_tokens=spec.max_tokens or default_tokens)
    return spec


async def _run(ls: Session, name: str, work: Work, token: int | str | None) -> tuple[Any, QueuedJob]:
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
        raise rpc_error(exc) from None
    finally:
        if token is not None and ls.progress_jobs.get(token) is job:
            del ls.progress_jobs[token]
            ls.ended_progress_tokens.append(token)
    progress.end("done")
    return value, job


def _job_times(ls: Session, job: QueuedJob) -> dict[str, Any]:
    """Where a request's job sat in the shared queue: its number (arrival order across all
    clients), how long it waited, and when it ran (ms since the daemon started)."""
    started = job.started if job.started is not None else job.submitted
    return {
        "id": job.id,
        "waitedMs": round((started - job.submitted) * 1000, 3),
        "startedMs": ls.backend.ms(job.started),
        "finishedMs": ls.backend.ms(job.finished),
    }
