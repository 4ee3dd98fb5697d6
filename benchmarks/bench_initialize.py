"""How fast a fresh daemon answers ``initialize`` over stdio (the engine must not be imported by then).

Each run starts ``python -m tokenlight serve`` as a new process, sends ``initialize`` and times the
answer from the spawn (what an editor waits for: interpreter start, server imports, the handler), then
asks ``tokenlight/status`` for the daemon's own ``startup.initializeMs`` (from the session object's
creation to the end of the handler) and whether torch was imported by then. Give ``--tree`` several
times (``label=folder holding the tokenlight package``) to compare two checkouts, run interleaved.

    python benchmarks/bench_initialize.py                     # writes its section of benchmarks/RESULTS.md
    python benchmarks/bench_initialize.py --tree before=/tmp/old/daemon --tree after=daemon --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import results_table, write_section  # noqa: E402


def _send(pipe: BinaryIO, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    pipe.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    pipe.flush()


def _receive(pipe: BinaryIO, request_id: int) -> dict[str, Any]:
    """The response to ``request_id`` (notifications and other messages before it are skipped)."""
    while True:
        length = None
        while (line := pipe.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("the daemon closed its output before answering")
        message = json.loads(pipe.read(length))
        if message.get("id") == request_id and "method" not in message:
            return message


def one_run(tree: Path, cache_dir: str) -> tuple[float, float, bool]:
    """(ms from spawn to the initialize answer, the daemon's startup.initializeMs, torch imported then)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenlight", "serve", "--cache-dir", cache_dir, "--log-level", "warning"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        _send(proc.stdin, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
        _receive(proc.stdout, 1)
        answered_ms = (time.perf_counter() - started) * 1000
        _send(proc.stdin, {"jsonrpc": "2.0", "id": 2, "method": "tokenlight/status", "params": {}})
        startup = _receive(proc.stdout, 2)["result"]["startup"]
        _send(proc.stdin, {"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
        _receive(proc.stdout, 3)
        _send(proc.stdin, {"jsonrpc": "2.0", "method": "exit"})
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return answered_ms, float(startup["initializeMs"]), bool(startup["torchImportedAtInitialize"])


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms ({min(values):.0f}–{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--tree",
        action="append",
        metavar="LABEL=FOLDER",
        help="a folder holding the tokenlight package (default: this checkout's daemon/)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    trees = [tuple(t.split("=", 1)) for t in args.tree or [f"this checkout={HERE.parent / 'daemon'}"]]
    samples: dict[str, list[tuple[float, float, bool]]] = {label: [] for label, _ in trees}
    with tempfile.TemporaryDirectory() as cache_dir:
        one_run(Path(trees[0][1]), cache_dir)  # warm the file system cache, not counted
        for _ in range(args.runs):
            for label, folder in trees:  # interleaved: machine noise hits every tree alike
                samples[label].append(one_run(Path(folder).resolve(), cache_dir))
    rows = []
    for label, runs in samples.items():
        answered = [a for a, _, _ in runs]
        handler = [h for _, h, _ in runs]
        torch_seen = sum(t for _, _, t in runs)
        rows.append(f"| {label} | {_summary(answered)} | {_summary(handler)} | {torch_seen} of {len(runs)} |")
        print(rows[-1], flush=True)
    if args.no_write:
        return
    table = results_table(
        "Time to answer initialize",
        f"A fresh `python -m tokenlight serve` over stdio, {args.runs} runs; median (min–max).",
        ["code", "spawn to initialize answer", "daemon's startup.initializeMs", "torch imported by then"],
        rows,
    )
    write_section(args.output, "initialize", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
