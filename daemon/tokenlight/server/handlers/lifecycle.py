"""Lifecycle and settings: ``initialize``, ``initialized``, ``workspace/didChangeConfiguration`` and
``window/workDoneProgress/cancel``."""

from __future__ import annotations

import logging
import sys
import time

from lsprotocol import types

from ..session import Session
from ..settings import section

log = logging.getLogger(__name__)


def initialize(ls: Session, params: types.InitializeParams) -> None:
    """``initialize``: check the token (remote mode), take settings from initializationOptions."""
    ls.startup["torchImportedAtInitialize"] = "torch" in sys.modules
    ls.check_token(params.initialization_options)
    options = params.initialization_options
    raw = (section(options) or options) if isinstance(options, dict) else None
    ls.settings, problems = ls.settings.updated(raw)
    for problem in problems:
        log.warning("initializationOptions: %s", problem)
    ls.startup["initializeMs"] = round((time.perf_counter() - ls._started) * 1000, 1)
    log.info("initialize after %.0f ms (torch imported: %s)", ls.startup["initializeMs"], "torch" in sys.modules)


def initialized(ls: Session, params: types.InitializedParams) -> None:
    """``initialized``: start importing the engine in the background (for tokenlight/methods)."""
    ls.ensure_methods()


async def did_change_configuration(ls: Session, params: types.DidChangeConfigurationParams) -> None:
    """``workspace/didChangeConfiguration``: new defaults for later requests (a new model or
    device is loaded by the next job). Settings pushed under ``tokenlight``, else pulled."""
    raw = section(params.settings)
    if raw is None:
        caps = ls.client_capabilities.workspace
        if caps is None or not caps.configuration:
            return
        values = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="tokenlight")])
        )
        raw = values[0] if values else None
    ls.settings, problems = ls.settings.updated(raw)
    ls.show_problems(problems)


def work_done_progress_cancel(ls: Session, params: types.WorkDoneProgressCancelParams) -> None:
    """``window/workDoneProgress/cancel``: stop the job reporting under that token."""
    job = ls.progress_jobs.get(params.token)
    if job is not None:
        job.cancel()
