"""The daemon's JSON-RPC errors: their codes, the two helpers every module raises, and the mapping
from an engine failure to an error whose message the user can act on.

Of the engine it imports only the light ``engine.errors`` (no torch): this module is imported at
start-up by the parsers and the handlers. Other engine exceptions are recognised by class name.
"""

from __future__ import annotations

import logging
import traceback
from enum import IntEnum
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams

from ..engine.errors import UnknownMethodError

log = logging.getLogger(__name__)


class ErrorCode(IntEnum):
    """JSON-RPC error codes the daemon answers with (LSP's where LSP has one)."""

    INVALID_PARAMS = -32602  # the request is wrong: fix the params (message says how)
    INTERNAL_ERROR = -32603  # a bug in Tokenlight: the message and data.traceback help report it
    UNAUTHORIZED = -32001  # remote mode: initialize without the right token
    SERVER_NOT_INITIALIZED = -32002  # remote mode: a request before a successful initialize
    REQUEST_CANCELLED = -32800  # $/cancelRequest or window/workDoneProgress/cancel
    CONTENT_MODIFIED = -32801  # the selection was edited while the attribution ran
    REQUEST_FAILED = -32803  # valid request that failed: model not found, out of memory, ...


def invalid_params(message: str, **data: Any) -> JsonRpcException:
    """A -32602 error whose message is exactly what the user reads (no "Invalid Params:" prefix)."""
    return JsonRpcInvalidParams(message=message, data=data or None)


def request_failed(message: str, kind: str) -> JsonRpcException:
    """A -32803 error: the request was well formed but could not be done (``data.kind`` says why)."""
    return JsonRpcException(message=message, code=ErrorCode.REQUEST_FAILED, data={"kind": kind})


def rpc_error(exc: Exception) -> JsonRpcException:
    """An engine failure as a JSON-RPC error whose message the user can act on."""
    if isinstance(exc, JsonRpcException):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, UnknownMethodError):
        return invalid_params(str(exc), kind=type(exc).__name__, validMethods=exc.valid)
    if "InputError" in names:
        return invalid_params(str(exc), kind=type(exc).__name__)
    if "TokenlightError" in names:
        return request_failed(str(exc), type(exc).__name__)
    if isinstance(exc, MemoryError):
        return request_failed("out of memory: select less text or use a smaller model", "OutOfMemory")
    log.error("internal error: %s", "".join(traceback.format_exception(exc)))
    return JsonRpcInternalError(
        message=f"internal error in Tokenlight ({type(exc).__name__}: {exc}); the daemon log has the details",
        data={"traceback": traceback.format_tb(exc.__traceback__)},
    )
