"""GradientSHAP's sampling error against its sample count, on the embedded model.

GradientSHAP is complete only in expectation: its delta is sampling error and shrinks as 1/√n.
This measures, for n samples and a few seeds on the prompts users try first (function signatures
from the sample workspace), each target's |delta| / |f(x) − E f(x′)|, and how many targets stay
within the method's own tolerance (5%, ``DELTA_NOTE_SHARE``). It is what the default
``n_samples`` is chosen from, and what the non-convergence note's advice (how many samples would
meet the tolerance) is checked against.

    python benchmarks/bench_gradient_shap_samples.py     # writes its section of benchmarks/RESULTS.md
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

from measure import results_table, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine.methods.base import DELTA_NOTE_SHARE  # noqa: E402

PROMPTS = (
    "def polygon_area(points: list[Point]) -> float:",
    "def distance(a: Point, b: Point) -> float:",
    "def centroid(points: list[Point]) -> Point:",
)


def shares(lm, prompt: str, n: int, seed: int) -> tuple[np.ndarray, float, list[str]]:
    start = time.perf_counter()
    res = attribute(lm, prompt, max_new_tokens=8, method="gradient_shap", n_samples=n, seed=seed)
    seconds = time.perf_counter() - start
    change = np.abs(res.target_scores - res.baseline_scores)
    return np.abs(res.deltas) / np.maximum(change, 1e-12), seconds, list(res.notes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    lm = load_model()
    attribute(lm, PROMPTS[0], max_new_tokens=2, method="gradient_shap", n_samples=8)  # warm-up
    rows = []
    for n in args.samples:
        all_shares, times, notes = [], [], []
        for prompt in PROMPTS:
            for seed in range(args.seeds):
                s, seconds, note = shares(lm, prompt, n, seed)
                all_shares.append(s)
                times.append(seconds)
                notes.extend(note)
        flat = np.concatenate(all_shares)
        within = float(np.mean(flat <= DELTA_NOTE_SHARE))
        runs_clean = sum(bool(np.all(s <= DELTA_NOTE_SHARE)) for s in all_shares)
        rows.append(
            f"| {n} | {100 * float(np.median(flat)):.1f}% | {100 * float(np.max(flat)):.1f}% | {100 * within:.0f}% | "
            f"{runs_clean} of {len(all_shares)} | "
            f"{statistics.median(times):.2f} s ({min(times):.2f}–{max(times):.2f}) |"
        )
        print(rows[-1], flush=True)
        if notes:
            print(f"  note at n={n}: {notes[0]}", flush=True)
    table = results_table(
        "GradientSHAP: sampling error against n_samples (embedded model)",
        f"{len(PROMPTS)} signatures from e2e/workspace/geometry.py × {args.seeds} seeds, 8 generated targets each; "
        f"|delta| as a share of |f(x) − E f(x′)| per target; tolerance {DELTA_NOTE_SHARE:.0%}.",
        ["n_samples", "median share", "max share", "targets within", "runs with no note", "time per run"],
        rows,
    )
    write_section(args.output, "gradient_shap_samples", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
