"""Per-target adaptive stopping against the earlier rule (every target runs until all converge).

Same call both sides (adaptive IG, the default), ``IntegratedGradients.per_target_stopping``
switched; interleaved, warm-ups both sides, median (min–max). Backward passes are 2T of the 1 + 2T
passes per point chunk, so the gain is the share of backward passes of targets that converged a
level before the last one.

Prediction (written before measuring): on the embedded model with 8–16 forced targets after a
Python prompt, targets stop at different levels (9, 17, 33): 10–30% fewer seconds; no gain when all
stop at the same level.

    python benchmarks/bench_adaptive_stopping.py      # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from geometries import prompt_of  # noqa: E402
from measure import load_note, median_range, publish, results_table  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine.methods.integrated_gradients import IntegratedGradients  # noqa: E402

TARGET = "\n    for value in values:\n        total += value\n    return total / len(values)\n"


def _run(lm, prompt: str, n_targets: int, per_target: bool):
    IntegratedGradients.per_target_stopping = per_target
    try:
        return attribute(lm, prompt, target_text=TARGET, max_target_tokens=n_targets)
    finally:
        IntegratedGradients.per_target_stopping = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, nargs="*", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lm = load_model()
    prompt = prompt_of(lm.tokenizer, 60)
    load = os.getloadavg()
    rows = []
    for n in args.targets:
        res = {flag: _run(lm, prompt, n, flag) for flag in (False, True)}  # warm-ups
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for flag in (False, True):
                t0 = time.perf_counter()
                _run(lm, prompt, n, flag)
                times[flag].append(time.perf_counter() - t0)
        change = np.abs(res[True].target_scores - res[True].baseline_scores)
        worst = {flag: float((np.abs(res[flag].deltas) / np.maximum(change, 1e-12)).max()) for flag in res}
        gain = statistics.median(times[False]) / statistics.median(times[True])
        rows.append(
            f"| {n} | {median_range(times[False])} | {median_range(times[True])} | {gain:.2f}× | "
            f"{worst[False]:.1e} / {worst[True]:.1e} |"
        )
        print(rows[-1], flush=True)
    after = os.getloadavg()
    section = results_table(
        "Per-target adaptive stopping (issue 19)",
        "Embedded model, CPU float32, 2 threads, adaptive IG (tolerance 1e-3) on the logit, forced targets after a "
        "60-token Python prompt; the earlier rule (all targets until all converge) against per-target stopping. "
        "Predicted: 10–30% fewer seconds. "
        f"{load_note(load, after)}",
        ["T", "all until all", "per target", "gain (medians)", "worst |delta| ÷ |f(x) − f(x′)|, before / after"],
        rows,
    )
    publish(section, "adaptive-stopping", write=not args.no_write)


if __name__ == "__main__":
    main()
