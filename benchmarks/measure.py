"""Timing and peak-memory measurement shared by the benchmark scripts (ours and the peers')."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def measure(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run ``fn`` once: (its result, wall seconds, peak extra memory in bytes).

    CPU: peak resident set size above the level before the call, sampled every 2 ms by a thread
    (reads /proc/self/statm; cheap and independent of the allocator). CUDA: torch's own peak.
    """
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    before = _rss_bytes()
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        result = fn()
        if cuda:
            torch.cuda.synchronize()
    finally:
        elapsed = time.perf_counter() - t0
        stop.set()
        sampler.join()
    extra = (torch.cuda.max_memory_allocated() - base) if cuda else max(peak[0], _rss_bytes()) - before
    return result, elapsed, int(extra)


def median_range(seconds: list[float]) -> str:
    """``median s (min–max)``: the spread says how much of a difference is noise."""
    import statistics

    return f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}–{max(seconds):.2f})"


def load_note(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    """The load averages a section was measured under, and a warning when either exceeded the CPU
    count (other work shared the cores, so the figures must be re-measured before they are quoted)."""
    cpus = os.cpu_count() or 1
    note = f"Load average before/after: {before[0]:.1f}/{after[0]:.1f}"
    if max(before[0], after[0]) > cpus:
        note += f" (above the {cpus} CPUs: a loaded machine, re-run before quoting)"
    return note + "."


def reproduce_command(make_target: str | None = None) -> str:
    """The command line that ran this script, for a section's "Reproduce:" (the options are part of
    what was measured); ``make <make_target>`` when it ran without any and the Makefile has a target."""
    import shlex
    import sys
    from pathlib import Path

    arguments = sys.argv[1:]
    if not arguments and make_target is not None:
        return f"make {make_target}"
    return shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *arguments])


def publish(markdown: str, name: str, *, write: bool = True) -> None:
    """Print a section and, unless ``write`` is False (a script's ``--no-write``), put it in
    benchmarks/RESULTS.md under ``name``."""
    from pathlib import Path

    print(markdown)
    if write:
        write_section(Path(__file__).resolve().parent / "RESULTS.md", name, markdown)


def write_section(path, name: str, markdown: str) -> None:
    """Replace the section ``name`` of a results file (between HTML comment markers), keeping the
    sections other scripts wrote; a new section goes after the title."""
    from pathlib import Path

    path = Path(path)
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else "# Benchmark results\n\nProduced by the scripts in this folder.\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + ("\n" + after if after else "")  # keep the blank line before what follows
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def results_table(title: str, description: str, columns: list[str], rows: list[str], *after: str) -> str:
    """A dated section for RESULTS.md: heading, a paragraph (the command that ran it and the machine
    appended), a table, notes."""
    import time

    return "\n".join(
        [
            f"## {title} ({time.strftime('%Y-%m-%d')})",
            "",
            f"{description} {provenance()}",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
            *rows,
            *(["", *after] if after else []),
        ]
    )


def provenance(make_target: str | None = None) -> str:
    """ "Reproduce: `<the command that ran>`. Machine: <cpu, versions>." for a section's paragraph."""
    return f"Reproduce: `{reproduce_command(make_target)}`. Machine: {machine_description()}."


def machine_description() -> str:
    import platform

    import torch

    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = f"{names[0]} ({len(names)} logical CPUs)"
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}{gpu}; Python {platform.python_version()}, torch {torch.__version__}"
