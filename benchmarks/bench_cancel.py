"""How long a cancelled attribution keeps the worker: from the cancel flag to the engine's stop.

The engine polls ``is_cancelled`` between passes, so the latency should be about one backward pass
of one chunk (≤ 64 points on a CPU), whatever the total number of points.

    python benchmarks/bench_cancel.py     # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from measure import results_table, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine.errors import AttributionCancelled  # noqa: E402

PROMPT = 'def mean(values):\n    """Return the arithmetic mean of values."""\n    total = 0\n    for v in values:\n'


def cancel_latency(lm, n_steps: int | None, after_s: float) -> float:
    """Seconds from setting the cancel flag to ``attribute`` raising AttributionCancelled."""
    flag = threading.Event()
    stopped: list[float] = []

    def run() -> None:
        try:
            attribute(lm, PROMPT, max_new_tokens=8, n_steps=n_steps, is_cancelled=flag.is_set)
        except AttributionCancelled:
            stopped.append(time.perf_counter())

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(after_s)
    cancelled_at = time.perf_counter()
    flag.set()
    worker.join()
    if not stopped:
        raise SystemExit(f"the run with n_steps={n_steps} finished before the cancel; lower --after")
    return stopped[0] - cancelled_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--after", type=float, default=3.0, help="seconds into the run to cancel")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lm = load_model(device="cpu", dtype="float32")
    rows = []
    for n_steps in args.steps:
        latencies = [cancel_latency(lm, n_steps, args.after) for _ in range(args.repeats)]
        rows.append(f"| {n_steps} | {statistics.median(latencies) * 1000:.0f} ms | {max(latencies) * 1000:.0f} ms |")
        print(rows[-1], flush=True)
    table = results_table(
        "Cancellation latency",
        "Embedded model, CPU float32, 2 threads, IG with fixed Gauss-Legendre points, 8 generated targets, "
        f"cancelled {args.after:.0f} s into the run; {args.repeats} runs.",
        ["nSteps", "median latency", "worst"],
        rows,
    )
    write_section(args.output, "cancel", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
