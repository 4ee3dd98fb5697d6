"""What a job asks the runner for: the model and one attribution, in engine terms.

The ``tokenlight/attribute`` handler builds an :class:`AttributionJob` from the parsed request and
the session's settings; the runner turns it into an engine call on the worker thread and answers with
a :class:`~.results.ResultData`. Plain Python only (no torch, no pygls). Not to be confused with the
worker's :class:`~.worker.QueuedJob`, which is any piece of work waiting for or running on the thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol import AttributeOptions, TargetSpec


@dataclass(frozen=True)
class ModelRequest:
    """Which model a job needs; the runner loads it when it differs from the resident one."""

    name: str | None  # None: the embedded model
    device: str = "auto"
    dtype: str = "auto"


@dataclass(frozen=True)
class AttributionJob:
    """One attribution, in engine terms (code-point text, no LSP)."""

    model: ModelRequest
    prompt: str
    target: TargetSpec  # for "following", ``text`` holds the document text after the selection
    method: str
    # the request's options with the configured defaults filled in; their field names are
    # attribute()'s keyword arguments, so the engine call and the cache key are derived from them
    options: AttributeOptions
    # context "document": where the selection starts in ``prompt`` (the document up to its end)
    selection_start: int | None = None
    # the editor's document symbols, {start, end, kind, name} in code points into ``prompt``
    symbols: tuple[tuple[int, int, str, str], ...] = ()
