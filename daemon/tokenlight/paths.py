"""Where Tokenlight keeps files on disk: the cache folder, from the environment and the platform.

A neutral module: it imports nothing of Tokenlight, so that the engine (Discretized IG's kNN cache),
the results cache and the server's command line can all ask it without importing one another.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_DIR = "TOKENLIGHT_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$TOKENLIGHT_CACHE_DIR``, else the platform's user cache folder + ``tokenlight/results``
    (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%``)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override).expanduser()
    return user_cache_base() / "tokenlight" / "results"


def user_cache_base() -> Path:
    """The platform's user cache folder: ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
