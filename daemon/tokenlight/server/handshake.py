"""WebSocket handshakes a browser page could have made are refused before any LSP message is read.

Two attacks reach a daemon on loopback through the user's own browser:

- **Cross-site WebSocket hijacking**: any page may open ``ws://127.0.0.1:PORT``; the browser sends
  the page's ``Origin``. Native clients (the extension, pygls, scripts) send none. So a handshake
  whose ``Origin`` is present and not in the allow-list (``--allow-origin URL``, default empty) is
  refused with 403 (websockets' own ``origins`` check: :func:`accepted_origins`).
- **DNS rebinding**: a page on ``evil.example`` whose name is then re-pointed at 127.0.0.1 is
  same-origin with the daemon as far as the browser knows, but its requests still carry
  ``Host: evil.example:PORT``. So the ``Host`` must name the bound address, ``localhost`` or a
  loopback address; on a wildcard bind (0.0.0.0, ::) also any IP literal and this machine's own
  names, since a rebinding attack always arrives under a domain name the attacker controls
  (:class:`HostCheck`, run from websockets' ``process_request`` hook).
"""

from __future__ import annotations

import http
import ipaddress
import logging
import socket
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def accepted_origins(allowed: Sequence[str]) -> list[Any]:
    """websockets' ``origins`` argument: no Origin (a native client), or exactly one allowed."""
    return [None, *(origin.rstrip("/") for origin in allowed)]


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port and brackets, lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.rsplit(":", 1)[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Which ``Host`` headers a daemon bound to ``bound_host`` accepts (see the module docstring)."""

    def __init__(self, bound_host: str) -> None:
        bound = bound_host.lower()
        self.wildcard = bound in ("0.0.0.0", "::", "")
        self.names = set(_LOOPBACK_NAMES) | {bound}
        if self.wildcard:
            self.names |= {socket.gethostname().lower(), socket.getfqdn().lower()}

    def accepts(self, header: str | None) -> bool:
        if not header:
            return False
        name = host_name(header)
        if name in self.names:
            return True
        if self.wildcard and _is_ip(name):
            return True
        return _is_ip(name) and ipaddress.ip_address(name).is_loopback

    def process_request(self, connection: Any, request: Any) -> Any:
        """websockets' ``process_request`` hook: a 403 for a Host this daemon does not answer to."""
        header = request.headers.get("Host")
        if self.accepts(header):
            return None
        log.warning("refused a WebSocket handshake from %s: Host %r", connection.remote_address, header)
        return connection.respond(
            http.HTTPStatus.FORBIDDEN, "Host not allowed: connect to the address the daemon printed\n"
        )
