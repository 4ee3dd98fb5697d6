"""The quadrature facts the engine's comments rely on, measured.

1. Building the Gauss-Legendre rule: numpy's ``leggauss`` (an n×n eigenproblem, O(n³)) against the
   engine's Newton iterations (used above 100 points), at a few sizes, and how far apart the nodes
   and weights are.
2. Convergence on the embedded model (a 4-layer GPT-2): the worst |delta| of IG over the targets
   with Gauss-Legendre and with the trapezoid rule at a few point counts.

    python benchmarks/bench_quadrature.py    # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from measure import results_table, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine.quadrature import gauss_legendre  # noqa: E402

PROMPT = 'def mean(values):\n    """Return the arithmetic mean of values."""\n    total ='


def _seconds(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def rule_rows(sizes: list[int]) -> list[str]:
    rows = []
    for n in sizes:
        (theirs_x, theirs_w), numpy_s = _seconds(lambda n=n: np.polynomial.legendre.leggauss(n))
        gauss_legendre.cache_clear()
        (ours_x, ours_w), ours_s = _seconds(lambda n=n: gauss_legendre(n))
        rows.append(
            f"| {n} | {numpy_s:.2f} s | {ours_s:.2f} s | {np.abs(ours_x - theirs_x).max():.1e} "
            f"| {np.abs(ours_w - theirs_w).max():.1e} |"
        )
        print(rows[-1], flush=True)
    return rows


def convergence_rows(lm, text: str, points: list[int]) -> list[str]:
    rows = []
    for n in points:
        cells = []
        for rule in ("gausslegendre", "riemann_trapezoid"):
            res = attribute(lm, PROMPT, target_text=text, n_steps=n, integration=rule)
            cells.append(f"{np.abs(res.deltas).max():.1e}")
        rows.append(f"| {n} | {cells[0]} | {cells[1]} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 4096])
    parser.add_argument("--points", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rules = rule_rows(args.sizes)
    lm = load_model(device="cpu", dtype="float32")
    generated = attribute(lm, PROMPT, max_new_tokens=args.targets, method="saliency").target_tokens
    text = "".join(t.text for t in generated)
    convergence = convergence_rows(lm, text, args.points)
    table = results_table(
        "Quadrature: building the rule, and convergence",
        "Building the Gauss-Legendre rule, one run each (numpy's `leggauss` against the engine's Newton "
        "iterations; largest difference in nodes and weights); then the worst \\|delta\\| over "
        f"{args.targets} generated targets of IG on the embedded model (zero baseline, logit) per rule and "
        "point count. Shared machine: times are noisy.",
        ["n", "numpy leggauss", "Newton (ours)", "max node difference", "max weight difference"],
        rules,
        "| points | worst \\|delta\\|, Gauss-Legendre | worst \\|delta\\|, trapezoid |",
        "|---|---|---|",
        *convergence,
    )
    write_section(args.output, "quadrature", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
