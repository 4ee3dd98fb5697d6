"""Remote mode's login: the token every TCP / WebSocket connection must present, on loopback too.

Loopback is not private: any local user can connect to a loopback port, and any web page the user
opens can make the browser open a WebSocket to ``ws://127.0.0.1:PORT`` (an SSH tunnel puts a remote
daemon's port exactly there). So a remote-mode daemon always has a token (stdio needs none: only
the editor that spawned it holds the pipes).

When none is given (``--token`` / ``$TOKENLIGHT_TOKEN``), the daemon does what Jupyter does: it
generates one (:data:`TOKEN_BYTES` random bytes from :mod:`secrets`), prints it once on stderr with
how to connect, and writes it to :func:`token_file` (``daemon-<port>.json`` in :func:`runtime_dir`),
readable only by the user (0600 in a 0700 folder), so that the extension and scripts on the same
machine connect without being told. The file is removed when the daemon stops. The extension finds
it by the same rule (``extension/src/tokenFile.ts``).

Tokens are compared in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..paths import user_cache_base

log = logging.getLogger(__name__)

ENV_TOKEN = "TOKENLIGHT_TOKEN"
ENV_RUNTIME_DIR = "TOKENLIGHT_RUNTIME_DIR"
TOKEN_BYTES = 32  # 256 bits
TOKEN_FILE_FORMAT = "tokenlight-daemon"


@dataclass(frozen=True)
class Login:
    """The token this daemon's remote clients must send as ``initializationOptions.token``."""

    token: str
    generated: bool  # made up by the daemon (then printed once and kept in the token file)

    @classmethod
    def given_or_generated(cls, given: str | None) -> Login:
        if given:
            return cls(given, generated=False)
        return cls(secrets.token_urlsafe(TOKEN_BYTES), generated=True)


def tokens_match(given: object, expected: str) -> bool:
    """Whether ``given`` is the token, compared in constant time (a non-string never matches)."""
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def runtime_dir() -> Path:
    """``$TOKENLIGHT_RUNTIME_DIR`` when set (an editor run in a contained profile, such as
    ``make run``'s code-server, is pointed at the user's own folder this way), else
    ``$XDG_RUNTIME_DIR/tokenlight`` (a per-user folder that the system empties at logout), else
    ``<user cache folder>/tokenlight/runtime``."""
    override = os.environ.get(ENV_RUNTIME_DIR)
    if override:
        return Path(override).expanduser()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "tokenlight"
    return user_cache_base() / "tokenlight" / "runtime"


def token_file(port: int) -> Path:
    """Where a daemon listening on ``port`` keeps its generated token (one daemon per port)."""
    return runtime_dir() / f"daemon-{port}.json"


def write_token_file(port: int, url: str, token: str) -> Path:
    """Write ``{format, url, token, pid}`` to :func:`token_file` atomically, mode 0600, in a folder
    only the user can enter; raises OSError when that is not possible."""
    path = token_file(port)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if sys.platform != "win32":
        os.chmod(path.parent, 0o700)  # an older, looser folder of ours is tightened, not trusted
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"format": TOKEN_FILE_FORMAT, "url": url, "token": token, "pid": os.getpid()}, fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


class Announcement:
    """Tells the person who started the daemon how to connect, once, and cleans up after it."""

    def __init__(self, login: Login) -> None:
        self.login = login
        self.files: list[Path] = []

    def listening(self, kind: str, url: str, port: int) -> None:
        """The first line on stderr names the address (supervisors and tests read it); with a
        generated token, the token and where it was saved follow."""
        print(f"tokenlight: listening on {url}", file=sys.stderr, flush=True)
        if not self.login.generated:
            return
        print(
            f"tokenlight: token (clients send it as initializationOptions.token): {self.login.token}",
            file=sys.stderr,
            flush=True,
        )
        try:
            path = write_token_file(port, url, self.login.token)
        except OSError as exc:
            print(f"tokenlight: could not save the token ({exc}); give it to clients yourself", file=sys.stderr)
            return
        self.files.append(path)
        print(
            f"tokenlight: token saved in {path} (only you can read it): the VS Code extension on this machine "
            f'reads it; elsewhere, run "Tokenlight: Set Remote Token" and paste the token',
            file=sys.stderr,
            flush=True,
        )

    def withdraw(self) -> None:
        """Remove the token files this daemon wrote (they would name a daemon that is gone)."""
        for path in self.files:
            with contextlib.suppress(OSError):
                path.unlink()
        self.files.clear()
