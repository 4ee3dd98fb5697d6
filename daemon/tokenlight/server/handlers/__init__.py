"""The handlers: one function per LSP message or ``tokenlight/*`` request, each translating
protocol <-> engine and doing nothing else; :func:`~tokenlight.server.app.build_server` registers them.

- :mod:`.lifecycle`: ``initialize``, ``initialized``, ``workspace/didChangeConfiguration``,
  ``window/workDoneProgress/cancel``;
- :mod:`.text_document`: ``textDocument/didOpen|didChange|didClose``, ``hover``, ``inlayHint``;
- :mod:`.requests`: ``tokenlight/attribute|methods|loadModel|status|clear|focus``.

Heavy requests (attribute, loadModel) are ``async`` handlers that queue a job on the worker and await
it, so that ``$/cancelRequest`` reaches them; every other handler is answered from the event loop,
from stored plain data, while a job runs.
"""
