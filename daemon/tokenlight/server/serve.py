"""``tokenlight serve``: the daemon's command line (stdio by default, or --tcp / --ws).

In stdio mode standard output *is* the protocol, so it is taken for the protocol alone before
anything else runs: Python's ``sys.stdout`` and the process's file descriptor 1 both go to stderr,
and a stray ``print`` (ours or a library's, even from C) cannot corrupt a message.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from pathlib import Path
from typing import BinaryIO, NoReturn
from urllib.parse import urlsplit

from ..cache import ResultCache, default_max_bytes
from ..paths import ENV_DIR, default_cache_dir
from .auth import ENV_TOKEN, Login
from .session import LOGIN_TIMEOUT_S
from .transport import (
    Remote,
    TransportError,
    check_bind,
    parse_address,
    serve_tcp,
    serve_ws,
    websockets_available,
)

log = logging.getLogger("tokenlight.server")


class _Parser(argparse.ArgumentParser):
    """A usage error is one line (the CLI's convention)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tokenlight serve",
        description="Run the Tokenlight language server (LSP over stdio, or TCP / WebSocket for remote use).",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stdio", action="store_true", help="speak LSP on stdin/stdout (the default)")
    where.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP (host defaults to 127.0.0.1)")
    where.add_argument("--ws", metavar="HOST:PORT", help="listen for WebSocket clients (needs websockets)")
    parser.add_argument(
        "--token",
        help=f"remote mode: clients must send this as initializationOptions.token (default: ${ENV_TOKEN}, "
        "else a generated one, printed and saved for local tools); required to bind anything but a loopback address",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="--ws: also accept WebSocket handshakes from this browser origin (e.g. https://host:port); "
        "repeatable; by default a handshake that carries an Origin is refused",
    )
    parser.add_argument(
        "--model-root",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="remote mode: clients may load models only from under this folder (repeatable; default: the "
        "Hugging Face cache); the embedded model is always allowed",
    )
    parser.add_argument(
        "--login-timeout",
        type=float,
        default=LOGIN_TIMEOUT_S,
        metavar="SECONDS",
        help=f"remote mode with a token: close a connection that has not logged in by then (default: "
        f"{LOGIN_TIMEOUT_S:.0f})",
    )
    parser.add_argument("--log-file", type=Path, help="write the log here instead of stderr")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error"), help="default: info"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="results cache folder (default: $TOKENLIGHT_CACHE_DIR or ~/.cache/tokenlight/results)",
    )
    parser.add_argument(
        "--cache-max-mb", type=float, help="results cache size limit in MiB; 0 disables it (default: 256)"
    )
    # vscode-languageclient appends this for Node servers; accepted and ignored elsewhere
    parser.add_argument("--clientProcessId", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the daemon until the client exits (stdio) or forever (tcp/ws); 2 on bad options."""
    args = build_parser().parse_args(argv)
    token = args.token or os.environ.get(ENV_TOKEN) or None
    prog = "tokenlight serve"
    try:
        address = parse_address(args.tcp or args.ws) if (args.tcp or args.ws) else None
        if address is not None:
            check_bind(address, token)
        if args.ws and not websockets_available():
            from .transport import WEBSOCKETS_HINT

            raise TransportError(WEBSOCKETS_HINT)
        if not args.login_timeout > 0:
            raise TransportError(f"--login-timeout must be a number of seconds above 0 (got {args.login_timeout})")
        _check_remote_options(args)
    except TransportError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2

    os.environ.setdefault("MPLBACKEND", "Agg")  # captum.attr imports pyplot: never open a display
    cache_dir = (args.cache_dir or default_cache_dir()).expanduser().absolute()
    # the engine's own on-disk caches (Discretized IG's kNN graphs) live in $TOKENLIGHT_CACHE_DIR/knn:
    # a --cache-dir must reach them too, so that the daemon writes nowhere else
    os.environ[ENV_DIR] = str(cache_dir)
    protocol_out = _take_stdout() if address is None else None
    _configure_logging(args.log_file, args.log_level)

    from ..version import __version__
    from .app import build_server
    from .backend import Backend

    max_bytes = default_max_bytes() if args.cache_max_mb is None else int(args.cache_max_mb * 1024 * 1024)
    backend = Backend(ResultCache(cache_dir, max_bytes))
    log.info("tokenlight %s serving on %s", __version__, address or "stdio")
    try:
        if address is not None:
            remote = _remote(args, token)
            (serve_ws if args.ws else serve_tcp)(backend, address, remote)
        else:
            build_server(backend=backend).start_io(sys.stdin.buffer, protocol_out)
    except TransportError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the port is taken
        print(f"{prog}: error: cannot listen on {address}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        backend.worker.stop()
    if backend.worker.busy:
        # a job is inside torch; interpreter shutdown under a running daemon thread can crash it
        logging.shutdown()
        os._exit(0)
    return 0


def _check_remote_options(args: argparse.Namespace) -> None:
    for root in args.model_root:
        if not root.expanduser().is_dir():
            raise TransportError(f"--model-root {root}: no such folder")
    for origin in args.allow_origin:
        parts = urlsplit(origin)
        if not parts.scheme or not parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise TransportError(
                f"--allow-origin {origin!r} is not an origin: give scheme://host[:port], e.g. https://notebook.example:8443"
            )


def _remote(args: argparse.Namespace, token: str | None) -> Remote:
    """What remote clients are held to, from the command line (a token generated when none is given)."""
    from .model_roots import ModelRoots

    return Remote(
        login=Login.given_or_generated(token),
        model_roots=ModelRoots(args.model_root),
        login_timeout=args.login_timeout,
        allow_origins=tuple(args.allow_origin),
    )


def _take_stdout() -> BinaryIO:
    """Reserve file descriptor 1 for the protocol and send everything else on it to stderr."""
    try:
        protocol_fd = os.dup(sys.stdout.fileno())
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        out = sys.stdout.buffer
    else:
        out = os.fdopen(protocol_fd, "wb")
    sys.stdout = sys.stderr
    return out


def _configure_logging(log_file: Path | None, level: str) -> None:
    handler: logging.Handler
    if log_file is not None:
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("tokenlight").setLevel(level.upper())
    # pygls logs every message body at INFO: only its warnings unless we are debugging
    logging.getLogger("pygls").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    handler.addFilter(_UserErrorsWithoutTraceback())


class _UserErrorsWithoutTraceback(logging.Filter):
    """pygls logs every JSON-RPC error a handler raises with ``logger.exception``. Ours are answers to
    bad input ("unknown method 'x'; choose one of ..."), already sent to the client: a traceback in
    the daemon log (shown in the editor's output channel) would read as a crash. Keep them as one
    line at INFO; a real fault (any other exception) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name.startswith("pygls"):
            from pygls.exceptions import JsonRpcException

            error = record.exc_info[1]
            if isinstance(error, JsonRpcException):
                record.msg = f"{record.getMessage()}: {error.message}"
                record.args = ()
                record.exc_info = None
                record.exc_text = None
                record.levelno, record.levelname = logging.INFO, "INFO"
                return logging.getLogger("tokenlight").isEnabledFor(logging.INFO)
        return True
