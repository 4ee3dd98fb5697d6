"""Why occlusion's prefix reuse gains 1.45× at L = 1024, not 1.9×: the attention of the suffix.

With the unperturbed prefix's keys and values cached, a perturbed copy runs only its positions
≥ k, but each of those queries still attends to all L keys, and transformers passes SDPA an
explicit mask (queries fewer than keys), so SDPA computes the whole (L − k) × L rectangle. Without
the cache the pass runs all L queries with ``is_causal=True``, which skips the masked half of the
L × L square. So the rectangle costs 2(L − k)/L of the causal square, not (L² − k²)/L²: at k = L/4
more than the full causal pass. This script times the attention of one layer's pass at the
embedded model's shapes (64 rows per pass, 8 heads × 32), against what the positions alone predict.

Expected from the counting (written after an exploratory run): the reuse pass's attention costs
more than the positions' share (L² − k²)/L² of the no-reuse pass, and at most the rectangle's
2(L − k)/L (the causal kernel also visits the diagonal blocks in full, so it saves less than half);
a lower-right causal bias (``causal_lower_right``) is no faster on the CPU.

    python benchmarks/bench_prefix_attention.py     # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.attention.bias import causal_lower_right  # noqa: E402

from measure import load_note, publish, results_table  # noqa: E402


def seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    n, h, d, length = args.rows, args.heads, args.head_dim, args.length
    queries, keys, values = (torch.randn(n, h, length, d) for _ in range(3))
    load = os.getloadavg()
    causal = seconds(lambda: F.scaled_dot_product_attention(queries, keys, values, is_causal=True), args.repeats)
    rows = []
    for k in (length // 4, length // 2, 3 * length // 4):
        suffix = queries[:, :, k:]
        mask = torch.ones(length - k, length, dtype=torch.bool).tril(diagonal=k)
        bias = causal_lower_right(length - k, length)
        masked, lower = (
            seconds(lambda m=m, q=suffix: F.scaled_dot_product_attention(q, keys, values, attn_mask=m), args.repeats)
            for m in (mask, bias)
        )
        positions = (length**2 - k**2) / length**2
        rectangle = 2 * (length - k) / length
        rows.append(
            f"| {k} | {causal * 1e3:.0f} ms | {masked * 1e3:.0f} ms ({masked / causal:.2f}) | "
            f"{lower * 1e3:.0f} ms ({lower / causal:.2f}) | {positions:.2f} | {rectangle:.2f} |"
        )
        print(rows[-1], flush=True)
    after = os.getloadavg()
    section = results_table(
        "Prefix reuse: the attention of the suffix (issue 19)",
        f"One layer's attention for one pass of occlusion at L = {length}: {n} rows, {h} heads × {d}, CPU float32, "
        "2 threads, median of the repeats after a warm-up. The no-reuse pass runs all L queries with is_causal; "
        "the reuse pass runs the L − k queries after the cached prefix against all L keys, with the explicit "
        "mask transformers builds, or with a lower-right causal bias. Expected: more than the positions' "
        f"share (L² − k²)/L², at most the rectangle's 2(L − k)/L. {load_note(load, after)}",
        [
            "prefix k",
            "no reuse (causal, L queries)",
            "reuse, explicit mask (÷ no reuse)",
            "reuse, lower-right bias (÷ no reuse)",
            "positions' ratio",
            "rectangle's ratio",
        ],
        rows,
    )
    publish(section, "prefix-attention", write=not args.no_write)


if __name__ == "__main__":
    main()
