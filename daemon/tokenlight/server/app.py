"""The language server's assembly: a :class:`~.session.Session` with every handler registered.

Start-up imports no torch and no transformers: ``initialize`` answers at once, the engine is
imported on the worker thread after ``initialized`` (for ``tokenlight/methods``) and the model loads
on first use (see :mod:`.runner`). Where the rest lives:

- :mod:`.rpc`: the pygls protocol subclass (how messages are dispatched; the remote-mode token gate);
- :mod:`.session`: one client's :class:`~.session.Session` (documents, results, settings, progress);
- :mod:`.backend`: the :class:`~.backend.Backend` every session of the process shares (worker,
  runner, results cache, method list);
- :mod:`.handlers`: one handler per LSP message and ``tokenlight/*`` request;
- :mod:`.jobs` and :mod:`.errors`: the plain data passed between those parts, and the JSON-RPC errors.
"""

from __future__ import annotations

from lsprotocol import types

from ..cache import ResultCache
from . import protocol as proto
from .backend import Backend
from .handlers import lifecycle, requests, text_document
from .session import Session


def build_server(
    *, token: str | None = None, cache: ResultCache | None = None, backend: Backend | None = None
) -> Session:
    """A session with every feature registered: the one session of a stdio daemon, or one per
    connection in remote mode (all on the same ``backend``; a new one when none is given)."""
    ls = Session(token=token, cache=cache, backend=backend)
    ls.feature(types.INITIALIZE)(lifecycle.initialize)
    ls.feature(types.INITIALIZED)(lifecycle.initialized)
    ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(lifecycle.did_change_configuration)
    ls.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(lifecycle.work_done_progress_cancel)
    ls.feature(types.TEXT_DOCUMENT_DID_OPEN)(text_document.did_open)
    ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)(text_document.did_change)
    ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)(text_document.did_close)
    ls.feature(types.TEXT_DOCUMENT_HOVER)(text_document.hover)
    ls.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))(text_document.inlay_hint)
    ls.feature(proto.ATTRIBUTE)(requests.attribute)
    ls.feature(proto.METHODS)(requests.methods)
    ls.feature(proto.STEP_FUNCTIONS)(requests.step_functions)
    ls.feature(proto.LOAD_MODEL)(requests.load_model)
    ls.feature(proto.STATUS)(requests.status)
    ls.feature(proto.CLEAR)(requests.clear)
    ls.feature(proto.FOCUS)(requests.focus)
    ls.feature(proto.COMPARE)(requests.compare)
    ls.feature(proto.AGAINST)(requests.against)
    ls.feature(proto.DIFF)(requests.diff)
    return ls
