"""The daemon log: user errors are one line, real faults keep their traceback."""

from __future__ import annotations

import io
import logging

from pygls.exceptions import JsonRpcInvalidParams

from tokenlight.server.serve import _UserErrorsWithoutTraceback


def _log_exception(exc: Exception) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_UserErrorsWithoutTraceback())
    logger = logging.getLogger("pygls.protocol.json_rpc")
    logging.getLogger("tokenlight").setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        try:
            raise exc
        except Exception:
            logger.exception('Exception occurred for message "%s"', 7)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_json_rpc_error_is_one_info_line():
    text = _log_exception(JsonRpcInvalidParams("unknown method 'nope'; choose one of: saliency"))
    expected = 'INFO pygls.protocol.json_rpc: Exception occurred for message "7": '
    assert text.strip().splitlines() == [expected + "unknown method 'nope'; choose one of: saliency"]


def test_a_real_fault_keeps_its_traceback():
    text = _log_exception(ZeroDivisionError("boom"))
    assert text.startswith("ERROR") and "Traceback" in text and "ZeroDivisionError: boom" in text
