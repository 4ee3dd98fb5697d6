"""Remote mode: serving over TCP or WebSocket, one client at a time, with a token.

pygls' own ``start_tcp`` / ``start_ws`` stop the whole server when the first connection ends, so a
rejected login (a wrong token) would take the daemon and its loaded model down with it. Here the
listener stays up: each connection gets a fresh session (documents, results, login state), a second
concurrent connection is turned away, and one that has not logged in within
:data:`~.app.LOGIN_TIMEOUT_S` seconds is closed.

Binding anything but a loopback address exposes the model to the network: that needs a token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
import threading
from dataclasses import dataclass

from pygls.io_ import run_async, run_websocket

from .app import LOGIN_TIMEOUT_S, TokenlightServer

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
WEBSOCKETS_HINT = "--ws needs the websockets package: pip install websockets (or pip install 'pygls[ws]')"


class TransportError(Exception):
    """A bind address or option that cannot work; the message is one line for the terminal."""


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; the host defaults to 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        raise TransportError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:8765)") from None
    if not 0 <= number <= 65535:
        raise TransportError(f"port {number} is out of range (0-65535; 0 picks a free port)")
    return Address(host, number)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(address: Address, token: str | None) -> None:
    """Refuse a non-loopback bind without a token."""
    if token is None and not is_loopback(address.host):
        raise TransportError(
            f"binding {address.host} exposes the model to the network: set a token with --token "
            "or TOKENLIGHT_TOKEN (clients send it as initializationOptions.token), or bind 127.0.0.1"
        )


def websockets_available() -> bool:
    try:
        import websockets.asyncio.server  # noqa: F401
    except ImportError:
        return False
    return True


def serve_tcp(server: TokenlightServer, address: Address) -> None:
    asyncio.run(_serve_tcp(server, address))


def serve_ws(server: TokenlightServer, address: Address) -> None:
    if not websockets_available():
        raise TransportError(WEBSOCKETS_HINT)
    asyncio.run(_serve_ws(server, address))


class _Session:
    """At most one connected client; closes a client that has not logged in in time."""

    def __init__(self, server: TokenlightServer) -> None:
        self.server = server
        self.active = False

    def open(self, close) -> bool:
        if self.active:
            return False
        self.active = True
        self.server.begin_session(close)
        if self.server.token is not None:
            asyncio.get_running_loop().call_later(LOGIN_TIMEOUT_S, self._login_deadline, close)
        return True

    def _login_deadline(self, close) -> None:
        if self.active and self.server.close_connection is close and not self.server.authenticated:
            log.warning("closing a connection that did not log in within %.0f s", LOGIN_TIMEOUT_S)
            close()

    def done(self) -> None:
        self.server.end_session()
        self.active = False


def _announce(kind: str, sockets) -> None:
    for sock in sockets:
        host, port = sock.getsockname()[:2]
        # one line on stderr, so that a supervisor (or a test) started with port 0 learns the port
        print(f"tokenlight: listening on {kind}://{Address(host, port)}", file=sys.stderr, flush=True)


async def _serve_tcp(server: TokenlightServer, address: Address) -> None:
    session = _Session(server)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not session.open(writer.close):
            log.warning("turned away %s: another client is connected", peer)
            writer.close()
            return
        log.info("client %s connected", peer)
        server.protocol.set_writer(writer)  # type: ignore[arg-type]  (asyncio writers are what pygls uses too)
        try:
            await run_async(
                stop_event=threading.Event(),
                reader=reader,
                protocol=server.protocol,
                logger=log,
                error_handler=server.report_server_error,
            )
        finally:
            session.done()
            writer.close()
            log.info("client %s disconnected", peer)

    listener = await asyncio.start_server(connection, address.host, address.port)
    _announce("tcp", listener.sockets)
    async with listener:
        await listener.serve_forever()


async def _serve_ws(server: TokenlightServer, address: Address) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    session = _Session(server)

    closing: set[asyncio.Task] = set()

    async def connection(websocket: ServerConnection) -> None:
        def close() -> None:
            task = asyncio.ensure_future(websocket.close())
            closing.add(task)
            task.add_done_callback(closing.discard)

        if not session.open(close):
            await websocket.close()
            return
        try:
            await run_websocket(
                websocket=websocket,
                stop_event=threading.Event(),
                protocol=server.protocol,
                logger=log,
                error_handler=server.report_server_error,
            )
        finally:
            session.done()

    async with serve(connection, address.host, address.port) as listener:
        _announce("ws", listener.sockets)
        await listener.serve_forever()
