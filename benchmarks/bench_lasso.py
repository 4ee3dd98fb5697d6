"""context_ablation's LASSO (``engine/lasso.py``): the solver as it was at a git revision against
the working tree's, on the same inputs, interleaved.

The shapes are those of bench_spans.py's context_ablation run on the ~512-token document at line
granularity (71 line spans, 3 earlier-target units, 4 targets): N masks for the fit (the held-out
ones are not fitted), and the N = 16 case profiled before. Inputs are random keep-bits and a sparse
additive signal with noise, seeded; the same tensors go to both solvers.

Prediction (written before the run, in RESULTS.md beside the outcome): the Gram form replaces two
[B, n, k] products per step by one [B, k, k] (≈1.3× at n = 48, k = 74), the step size one batched
eigvalsh instead of B SVDs, the refit one batched solve instead of B lstsq calls (these were ~25%
of the time when profiled): about 2× overall, more where n > k.

    python benchmarks/bench_lasso.py --before <rev>   # prints the rows; --write puts them in RESULTS.md
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from measure import results_table, write_section  # noqa: E402
from tokenlight.engine import lasso as current  # noqa: E402

SHAPES = ((16, 74, 4), (64, 74, 4), (128, 74, 4), (64, 74, 16))  # (masks fitted, units, targets)


def _module_at(revision: str):
    source = subprocess.run(
        ["git", "show", f"{revision}:daemon/tokenlight/engine/lasso.py"],
        cwd=HERE.parent, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "lasso_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("lasso_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inputs(n: int, k: int, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(n * 1000 + k * 10 + t)
    x = (torch.rand(n, k, generator=g) < 0.5).double()
    sparse = torch.rand(k, 1, generator=g, dtype=torch.float64) < 0.2
    ys = x @ (torch.randn(k, t, generator=g, dtype=torch.float64) * sparse)
    ys = ys + 0.3 * torch.randn(n, t, generator=g, dtype=torch.float64)
    return x, ys, torch.ones(t, k, dtype=torch.bool)


def _time(fn, *args) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:
    started = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="git revision whose lasso.py is the baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    before = _module_at(args.before)
    rows = []
    for n, k, t in SHAPES:
        x, ys, seen = _inputs(n, k, t)
        before.lasso_cv_many(x, ys, seen)  # warm-ups
        current.lasso_cv_many(x, ys, seen)
        old_s, new_s = [], []
        for _ in range(args.repeats):  # interleaved: load from other processes hits both alike
            s, old = _time(before.lasso_cv_many, x, ys, seen)
            old_s.append(s)
            s, new = _time(current.lasso_cv_many, x, ys, seen)
            new_s.append(s)
        largest = float(old[0].abs().max())
        diff = float((old[0] - new[0]).abs().max()) / largest if largest else 0.0
        gain = statistics.median(old_s) / statistics.median(new_s)
        rows.append(
            f"| {n} | {k} | {t} | {statistics.median(old_s):.2f} s ({min(old_s):.2f}–{max(old_s):.2f}) | "
            f"{statistics.median(new_s):.2f} s ({min(new_s):.2f}–{max(new_s):.2f}) | {gain:.1f}× | {diff:.1e} |"
        )
        print(rows[-1], flush=True)
    if args.write:
        table = results_table(
            "context_ablation's LASSO: Gram-form FISTA and a batched refit",
            f"lasso_cv_many (4-fold CV over 5 penalties, then the final fit) at {args.before} against the working "
            f"tree, same seeded inputs, interleaved, one warm-up each, median (min–max) of {args.repeats}.",
            [
                "masks fitted",
                "units",
                "targets",
                "before",
                "after",
                "gain",
                "largest coefficient change / largest coefficient",
            ],
            rows,
        )
        write_section(HERE / "RESULTS.md", "lasso", table)


if __name__ == "__main__":
    main()
