"""Which models a remote client may load, and what it may learn about the daemon's files.

A remote client (TCP / WebSocket) names models by path or id, and the daemon opens what it names:
unchecked, any client could load any folder the daemon's user can read, and tell from the error
whether a path exists ("exists but has no config.json" vs "no model folder"), probing /etc or
~/.ssh. So a remote client's model must be:

1. the embedded model (always: it ships with the daemon);
2. a folder under one of the allowed roots (``--model-root DIR``, repeatable; default: the
   Hugging Face cache), the path resolved (``~``, ``..``, symlinks) before it is compared;
3. or a Hugging Face id already in the Hugging Face cache, when that cache is an allowed root.

Anything else gets :data:`REFUSED`, the same message whether or not the path exists: the check
never asks the file system about a path outside the roots. A stdio client (the editor that spawned
the daemon, running as the same user) is not restricted.

``tokenlight/status`` shows remote clients no local paths: :func:`public_model_name`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pygls.exceptions import JsonRpcException

from ..embedded import EMBEDDED_MODEL_NAME, EMBEDDED_MODEL_PATH
from .errors import ErrorCode

# a Hugging Face repo id: "name" or "owner/name" (the hub's own character rules)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")

REFUSED = (
    "model {name!r} is not one this daemon serves to remote clients: use the embedded model, a model "
    "in the daemon's Hugging Face cache by its id, or a folder under one of its --model-root folders "
    "(ask whoever runs the daemon to add one)"
)


def hub_cache() -> Path:
    """The Hugging Face cache folder (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def is_hub_id(name: str) -> bool:
    return _HUB_ID.fullmatch(name) is not None and ".." not in name


def public_model_name(name: str | None) -> str | None:
    """A model's name as a remote client may see it: a path shows only its last folder's name."""
    if name is None or is_hub_id(name):
        return name
    return Path(name).name or "(a local folder)"


class ModelRoots:
    """The folders a remote client's models must come from (see the module docstring)."""

    def __init__(self, roots: Sequence[Path | str] = ()) -> None:
        given = [Path(root).expanduser().resolve() for root in roots]
        self.roots = given or [hub_cache().expanduser().resolve()]

    def allows_hub_ids(self) -> bool:
        return self._under_root(hub_cache().expanduser().resolve())

    def check(self, name: str | None) -> None:
        """Accept ``name`` (a model setting or ``loadModel`` param) or raise the one refusal."""
        if name is None or name in ("", EMBEDDED_MODEL_NAME) or self._allowed(name):
            return
        raise JsonRpcException(
            message=REFUSED.format(name=name), code=ErrorCode.REQUEST_FAILED, data={"kind": "ModelNotAllowed"}
        )

    def _allowed(self, name: str) -> bool:
        if "\x00" in name:
            return False
        try:
            local = Path(name).expanduser()
            resolved = (local if local.is_absolute() else Path.cwd() / local).resolve()
        except (OSError, RuntimeError, ValueError):  # "~nosuchuser", a name too long for the OS, ...
            return False
        if self._under_root(resolved) or resolved == EMBEDDED_MODEL_PATH:
            return True
        if not is_hub_id(name):
            return False
        # a hub id; the engine would prefer a same-named folder in the working directory, which is
        # outside every root (checked above): refuse rather than load that
        return self.allows_hub_ids() and _in_hub_cache(name) and not local.exists()

    def _under_root(self, path: Path) -> bool:
        return any(path == root or root in path.parents for root in self.roots)


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id after all
        return False
