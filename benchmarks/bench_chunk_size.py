"""Path points per pass (``internal_batch_size``) at a real geometry (issue 19, levers: chunk sizes).

The kernel runs IG's points in chunks: each chunk is one forward over ``c`` points and T backward
passes over its retained graph. By default ``c`` is what fits the memory budget (2 GiB of
activations on a CPU, capped at 64 points); this script times fixed sizes against that default on
the same loaded model, with fixed Gauss-Legendre points so that every side computes exactly the same
points, and reports the largest score difference (the result must not depend on ``c``).

Prediction (before the run): on two cores the matrix products dominate and stay in MKL's efficient
range from one point up (one point of a 75-token prompt is already an 88-row product at GPT-2-small,
264 rows at llama-300m), and the element-wise passes are memory-bound at any ``c``. So sizes ≥ 2
within ±5% of the default, and one point per pass at most ~10% slower (a pass's fixed costs: the
Python of 12–24 layers, the head, the T backward calls). No lever expected; measured to know.

    python benchmarks/bench_chunk_size.py                       # GPT-2-small, writes its section
    python benchmarks/bench_chunk_size.py --model llama-300m --prompt-tokens 256 --targets 2 \\
        --sizes 1 4 8 --repeats 2 --section chunk-size-llama-300m
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

from bench_adaptive_rule import TARGET  # noqa: E402
from geometries import add_case_arguments, case  # noqa: E402
from measure import load_note, median_range, publish, results_table  # noqa: E402
from tokenlight import attribute  # noqa: E402
from tokenlight.engine.kernel import default_chunk_size  # noqa: E402


def default_points(lm, n_points: int, seq_len: int, n_targets: int) -> int:  # type: ignore[no-untyped-def]
    """The engine's default points per pass for this case (its memory estimate, kernel.py)."""
    config = lm.model.config
    n_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    hidden = lm.model.get_input_embeddings().embedding_dim
    return default_chunk_size(n_points, seq_len, hidden, n_layers, n_targets * len(lm.tokenizer), lm.device, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_case_arguments(parser, points=15)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--section", default="chunk-size")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lm, prompt = case(args.model, args.prompt_tokens)
    options = {"target_text": TARGET, "max_target_tokens": args.targets, "baseline": "unk", "n_steps": args.points}
    sides: dict[str, int | None] = {"default": None, **{str(size): size for size in args.sizes}}
    load = os.getloadavg()
    results = {name: attribute(lm, prompt, internal_batch_size=size, **options) for name, size in sides.items()}
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):  # interleaved, after the warm-up call of each side above
        for name, size in sides.items():
            t0 = time.perf_counter()
            results[name] = attribute(lm, prompt, internal_batch_size=size, **options)
            seconds[name].append(time.perf_counter() - t0)
    after = os.getloadavg()
    res = results["default"]
    seq_len = len(res.source_tokens) + len(res.target_tokens) - 1
    chosen = default_points(lm, args.points, seq_len, len(res.target_tokens))
    reference, base = res.scores, statistics.median(seconds["default"])
    scale = float(np.nanmax(np.abs(reference)))
    rows = []
    for name, size in sides.items():
        per_pass = chosen if size is None else size
        label = f"default ({chosen})" if size is None else name
        diff = float(np.nanmax(np.abs(results[name].scores - reference))) / scale
        passes = -(-args.points // per_pass)
        ratio = statistics.median(seconds[name]) / base
        rows.append(f"| {label} | {passes} | {median_range(seconds[name])} | {ratio:.2f} | {diff:.1e} |")
    section = results_table(
        f"Points per pass (internal_batch_size) at {args.model} geometry (issue 19)",
        f"{args.model} geometry (random weights), CPU float32, 2 threads, IG on the logit with {args.points} fixed "
        f"Gauss-Legendre points, UNK baseline, {len(res.target_tokens)} forced targets after a "
        f"{len(res.source_tokens)}-token Python prompt; the default is what fits the memory budget (the engine's "
        f"estimate: {chosen} points per pass here). Median (min–max) of {args.repeats} interleaved calls after one "
        f"warm-up call of each side. Predicted: ≥ 2 points per pass within ±5% of the default, one point at most "
        f"~10% slower. {load_note(load, after)}",
        ["points per pass", "passes", "seconds", "÷ default", "max score diff ÷ largest"],
        rows,
    )
    publish(section, args.section, write=not args.no_write)


if __name__ == "__main__":
    main()
