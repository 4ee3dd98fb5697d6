"""Document sync and editor features: ``textDocument/didOpen|didChange|didClose``, ``hover`` and
``inlayHint``, answered from the session's stored results (never waiting for a job)."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from lsprotocol import types

from ..documents import StoredResult
from ..hover import hover_markdown
from ..inlay import inlay_hints
from ..positions import PositionError, TextIndex
from ..session import Session

log = logging.getLogger(__name__)


def did_open(ls: Session, params: types.DidOpenTextDocumentParams) -> None:
    """``textDocument/didOpen``: a (re)opened document starts without results."""
    uri = params.text_document.uri
    ls.dropped(uri, ls.store.close(uri), "reopened")


def did_change(ls: Session, params: types.DidChangeTextDocumentParams) -> None:
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


def did_close(ls: Session, params: types.DidCloseTextDocumentParams) -> None:
    """``textDocument/didClose``: drop the document's results and clear its diagnostics."""
    uri = params.text_document.uri
    ls.notify_dropped(uri, ls.store.close(uri), "closed")
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def hover(ls: Session, params: types.HoverParams) -> types.Hover | None:
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


def inlay_hint(ls: Session, params: types.InlayHintParams) -> list[types.InlayHint]:
    """``textDocument/inlayHint``: each generated continuation as ghost text after its selection."""
    uri = params.text_document.uri
    results = ls.store.results(uri)
    if not results:
        return []
    return inlay_hints(results, TextIndex(ls.document(uri, types.TEXT_DOCUMENT_INLAY_HINT)), params.range)
