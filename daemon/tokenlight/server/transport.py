"""Remote mode: serving any number of clients at once over TCP or WebSocket, with a token.

pygls' own ``start_tcp`` / ``start_ws`` serve one protocol object for the whole process and stop the
server when the first connection ends, so a rejected login (a wrong token) would take the daemon and
its loaded model down with it. Here:

- each connection gets its own session: its own pygls protocol and :class:`~.session.Session`,
  so its own documents, results, settings, progress tokens and login state;
- every session shares the daemon's one :class:`~.backend.Backend`: one worker (a FIFO queue, jobs one
  at a time in the order they arrive, whichever client sent them: one model, one GPU), one runner
  (it loads the model a job's session asks for, so clients may use different models; jobs are
  serialised, so a swap never happens under a running job) and one results cache;
- every connection logs in with the daemon's token, on loopback too (``auth.py``: a generated one
  when none is given); the token is checked per connection; a connection that has not logged in
  within the login deadline (:data:`~.session.LOGIN_TIMEOUT_S` seconds unless ``--login-timeout``) is
  closed, and so is one that fails to log in or sends a malformed or oversized message first;
- until it has logged in a connection may send messages of :data:`PRE_LOGIN_MAX_BYTES` at most,
  then :data:`MAX_MESSAGE_BYTES`; WebSocket handshakes from browser pages are refused
  (``handshake.py``); a session's models must come from the allowed roots (``model_roots.py``);
- a connection that ends (``exit``, a hang-up, a network error) cancels its own requests and jobs
  only: a job of its still waiting is skipped, one running stops at its next chunk. The listener and
  the other sessions go on; the model stays loaded for them and for the next client;
- ``SIGTERM`` (or Ctrl+C) stops the listener, ends every session and exits with status 0.

Binding anything but a loopback address exposes the model to the network: that needs a token
chosen by the person who runs the daemon (``--token`` / ``$TOKENLIGHT_TOKEN``), not a generated one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pygls.io_ import run_async, run_websocket

from .app import build_server
from .auth import Announcement, Login
from .backend import Backend
from .handshake import HostCheck, accepted_origins
from .model_roots import ModelRoots
from .session import LOGIN_TIMEOUT_S, Session

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
# websockets' default (1 MiB) closes the connection on opening a 2 MB file; one message carries a
# whole document (didOpen), so allow what an editor would plausibly send, bounded for memory's sake
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# before login only `initialize` is welcome: its capabilities and settings fit in far less
PRE_LOGIN_MAX_BYTES = 1024 * 1024
WEBSOCKETS_HINT = "--ws needs the websockets package: pip install websockets (or pip install 'pygls[ws]')"


class TransportError(Exception):
    """A bind address or option that cannot work; the message is one line for the terminal."""


@dataclass(frozen=True)
class Remote:
    """What every remote connection is held to: the login, its deadline, the models it may load
    and the browser origins allowed to open a WebSocket."""

    login: Login
    model_roots: ModelRoots
    login_timeout: float = LOGIN_TIMEOUT_S
    allow_origins: tuple[str, ...] = field(default=())


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


def serve_tcp(backend: Backend, address: Address, remote: Remote) -> None:
    """Serve LSP over TCP on ``address`` until SIGTERM / Ctrl+C, one session per connection."""
    asyncio.run(_serve_tcp(_Sessions(backend, remote), address))


def serve_ws(backend: Backend, address: Address, remote: Remote) -> None:
    """Serve LSP over WebSocket on ``address`` until SIGTERM / Ctrl+C, one session per connection."""
    if not websockets_available():
        raise TransportError(WEBSOCKETS_HINT)
    asyncio.run(_serve_ws(_Sessions(backend, remote), address))


class _Sessions:
    """Makes a session for each connection on the shared backend, and ends it with the connection."""

    def __init__(self, backend: Backend, remote: Remote) -> None:
        self.backend = backend
        self.remote = remote
        self.login_timeout = remote.login_timeout
        self.announcement = Announcement(remote.login)
        self.open: set[Session] = set()
        self._deadlines: dict[Session, asyncio.TimerHandle] = {}

    def start(self, close: Callable[[], None], peer: object) -> Session:
        session = build_server(token=self.remote.login.token, backend=self.backend)
        session.close_connection = close
        session.model_roots = self.remote.model_roots
        self.open.add(session)
        loop = asyncio.get_running_loop()
        self._deadlines[session] = loop.call_later(self.login_timeout, self._login_deadline, session)
        log.info("client %s connected: session %d (%d connected)", peer, session.session_id, len(self.open))
        return session

    def _login_deadline(self, session: Session) -> None:
        if session.connected and not session.authenticated and session.close_connection is not None:
            log.warning(
                "session %d: closing a connection that did not log in within %.0f s",
                session.session_id,
                self.login_timeout,
            )
            session.close_connection()

    def end(self, session: Session, peer: object) -> None:
        if (deadline := self._deadlines.pop(session, None)) is not None:
            deadline.cancel()
        session.end_session()
        if session in self.open:
            self.open.discard(session)
            log.info("client %s disconnected: session %d (%d connected)", peer, session.session_id, len(self.open))

    def end_all(self) -> None:
        for session in list(self.open):
            if session.close_connection is not None:
                session.close_connection()
            self.end(session, "(daemon stopping)")
        self.announcement.withdraw()

    def announce(self, kind: str, sockets: Any) -> None:
        """Print each listening address (a supervisor, or a test, started with port 0 learns the
        port from it) and, with a generated token, how to log in."""
        for sock in sockets:
            host, port = sock.getsockname()[:2]
            self.announcement.listening(kind, f"{kind}://{Address(host, port)}", port)

    def report_error(self, session: Session, error: Exception, source: Any) -> None:
        """A message that could not be read or handled: before login the connection is dropped
        (only a well-formed ``initialize`` is welcome then); after it, pygls' report as usual."""
        if not session.authenticated and session.close_connection is not None:
            log.warning(
                "session %d: closing a connection that sent a malformed message before logging in", session.session_id
            )
            session.close_connection()
            return
        session.report_server_error(error, source)


class _OversizedMessage(Exception):
    pass


class _LimitedReader:
    """The TCP stream as pygls reads it, refusing a ``Content-Length`` above the session's limit
    (:data:`PRE_LOGIN_MAX_BYTES` until it logs in, then :data:`MAX_MESSAGE_BYTES`) before reading
    the body: an unauthenticated peer cannot make the daemon buffer gigabytes."""

    def __init__(self, reader: asyncio.StreamReader, session: Session) -> None:
        self.reader = reader
        self.session = session

    async def readline(self) -> bytes:
        return await self.reader.readline()

    async def readexactly(self, n: int) -> bytes:
        limit = MAX_MESSAGE_BYTES if self.session.authenticated else PRE_LOGIN_MAX_BYTES
        if n > limit:
            raise _OversizedMessage(f"a message of {n} bytes (limit {limit})")
        return await self.reader.readexactly(n)


def _stop_on_sigterm() -> asyncio.Event:
    """An event set by SIGTERM (where the platform lets asyncio handle signals)."""
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; not the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    return stop


async def _serve_tcp(sessions: _Sessions, address: Address) -> None:
    handlers: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if (task := asyncio.current_task()) is not None:
            handlers.add(task)
            task.add_done_callback(handlers.discard)
        peer = writer.get_extra_info("peername")
        session = sessions.start(writer.close, peer)
        session.protocol.set_writer(writer)
        try:
            await run_async(
                stop_event=threading.Event(),
                reader=_LimitedReader(reader, session),
                protocol=session.protocol,
                logger=log,
                error_handler=lambda error, source: sessions.report_error(session, error, source),
            )
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("session %d: connection lost (%s)", session.session_id, type(exc).__name__)
        except (_OversizedMessage, ValueError) as exc:  # ValueError: a header line over the stream's limit
            log.warning("session %d: closing the connection: %s", session.session_id, exc)
        finally:
            sessions.end(session, peer)
            writer.close()

    stop = _stop_on_sigterm()
    listener = await asyncio.start_server(connection, address.host, address.port)
    sessions.announce("tcp", listener.sockets)
    async with listener:
        try:
            await stop.wait()
        finally:
            log.info("stopping: %d client(s) connected", len(sessions.open))
            listener.close()
            sessions.end_all()
            if handlers:  # their connections are closed: let them finish rather than be cancelled
                await asyncio.wait(set(handlers), timeout=5)


async def _serve_ws(sessions: _Sessions, address: Address) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    closing: set[asyncio.Task[None]] = set()

    async def connection(websocket: ServerConnection) -> None:
        def close() -> None:
            task = asyncio.ensure_future(websocket.close())
            closing.add(task)
            task.add_done_callback(closing.discard)

        session = sessions.start(close, websocket.remote_address)

        def logged_in() -> None:  # websockets reads the limit for each new message
            websocket.protocol.max_message_size = MAX_MESSAGE_BYTES

        session.on_login = logged_in
        try:
            await run_websocket(
                websocket=websocket,
                stop_event=threading.Event(),
                protocol=session.protocol,
                logger=log,
                error_handler=lambda error, source: sessions.report_error(session, error, source),
            )
        finally:
            sessions.end(session, websocket.remote_address)

    stop = _stop_on_sigterm()
    async with serve(
        connection,
        address.host,
        address.port,
        max_size=PRE_LOGIN_MAX_BYTES,
        origins=accepted_origins(sessions.remote.allow_origins),
        process_request=HostCheck(address.host).process_request,
    ) as listener:
        sessions.announce("ws", listener.sockets)
        try:
            await stop.wait()
        finally:
            log.info("stopping: %d client(s) connected", len(sessions.open))
            sessions.end_all()
