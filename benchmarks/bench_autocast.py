"""bfloat16 autocast as a speed lever for the gradient passes (issue 19): speed against accuracy.

GPT-2-small geometry (random weights), the 75-token prompt and 12 forced targets of
bench_adaptive_rule.py, IG with 17 fixed Gauss-Legendre points (the same work on both sides), CPU, 2
threads: float32 against the same call under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (matrix
products in bfloat16 with float32 accumulation; softmax, norms and the log-softmax stay float32).
Reported: seconds (interleaved, warm-ups both sides, median and min–max), the worst |delta| ÷
|f(x) − f(x′)| (each call against its own f(x), f(x′)), and the largest score difference from the
float32 call ÷ its largest score.

Prediction: ~2–3× faster where the CPU has AVX512-BF16 or AMX; a bfloat16 product keeps 8 bits of
mantissa, so gradients carry ~0.4–1% relative error and the delta lands near 1e-2, an order of
magnitude above the 1e-3 the float32 default meets. Kept only if the accuracy goal still holds.

    python benchmarks/bench_autocast.py      # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_adaptive_rule import TARGET  # noqa: E402
from geometries import add_case_arguments, case  # noqa: E402
from measure import load_note, median_range, publish, results_table  # noqa: E402
from tokenlight import attribute  # noqa: E402


def cpu_flags() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    return ", ".join(f for f in ("avx512_bf16", "amx_bf16") if f in flags) or "neither AVX512-BF16 nor AMX"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_case_arguments(parser, points=17)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lm, prompt = case(args.model, args.prompt_tokens)
    options = {"target_text": TARGET, "max_target_tokens": args.targets, "baseline": "unk", "n_steps": args.points}
    sides = {
        "float32": contextlib.nullcontext,
        "bfloat16 autocast": lambda: torch.autocast("cpu", dtype=torch.bfloat16),
    }
    load = os.getloadavg()
    for context in sides.values():  # warm-ups
        with context():
            attribute(lm, prompt, **options)
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    results = {}
    for _ in range(args.repeats):
        for name, context in sides.items():
            with context():
                t0 = time.perf_counter()
                results[name] = attribute(lm, prompt, **options)
                seconds[name].append(time.perf_counter() - t0)
    after = os.getloadavg()
    exact = results["float32"]
    scale = float(np.nanmax(np.abs(exact.scores)))
    rows = []
    for name, res in results.items():
        change = np.abs(res.target_scores.astype(np.float64) - res.baseline_scores)
        worst = float((np.abs(res.deltas) / change).max())
        diff = float(np.nanmax(np.abs(res.scores - exact.scores))) / scale
        rows.append(f"| {name} | {median_range(seconds[name])} | {worst:.1e} | {diff:.1e} |")
    gain = np.median(seconds["float32"]) / np.median(seconds["bfloat16 autocast"])
    section = results_table(
        "bfloat16 autocast of the gradient passes (issue 19)",
        f"{args.model} geometry (random weights), CPU ({cpu_flags()}), 2 threads, IG with {args.points} "
        f"Gauss-Legendre points on the logit, UNK baseline, {len(exact.target_tokens)} forced targets after a "
        f"{len(exact.source_tokens)}-token prompt. Gain (medians): {gain:.2f}×. {load_note(load, after)}",
        ["precision", "seconds", "worst \\|delta\\| ÷ \\|f(x) − f(x′)\\|", "max diff vs float32 ÷ largest"],
        rows,
    )
    publish(section, "autocast", write=not args.no_write)


if __name__ == "__main__":
    main()
