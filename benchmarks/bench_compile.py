"""``compile_layers`` (torch.compile of the decoder layers) against eager PyTorch (issue 19, levers).

The setting of goal 1: GPT-2-small geometry (12 × 768, random weights, the embedded tokenizer's
8,192 vocabulary), a 75-token Python prompt, 12 forced targets, IG on the logit with 15 fixed
Gauss-Legendre points (the count the adaptive default stops at here), UNK baseline, CPU float32,
2 threads. The compiled side is the engine's ``compile_layers=True`` (engine/compilation.py: each
decoder layer compiled on its own, "regional" compilation, one graph that every layer reuses, so
compile time does not grow with depth); both sides are the same loaded model, and the rest of the
engine is unchanged, so both run exactly the same kernel and the same forward and backward passes.

Reported: the first call's seconds (compilation included), the steady per-call seconds
(interleaved, a warm-up on both sides, median and min–max), the first call at a second prompt
length (a request of a new length: recompilation, or a dynamic-shape graph), and the largest score
difference ÷ the largest score.

Prediction (before the run): at this width the matrix products are ~85–90% of the FLOPs and run in
MKL either way; what compilation can remove is the eager element-wise passes (GELU, layer norms,
the softmax's masking and scaling, residual adds, ~10–25% of a pass on two cores), so 1.1–1.25×
per steady call, against tens of seconds of compilation per new shape. The lever pays only where
a daemon answers many requests of one length; it is kept only if it measures better.

    python benchmarks/bench_compile.py           # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
# a fresh inductor cache: the first call's seconds are a cold compilation, not a reuse of an earlier run's
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="tokenlight-inductor-"))
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_adaptive_rule import TARGET  # noqa: E402
from geometries import add_case_arguments, case, prompt_of  # noqa: E402
from measure import load_note, median_range, publish, results_table  # noqa: E402
from tokenlight import attribute  # noqa: E402


def timed(run):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = run()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_case_arguments(parser, points=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--section", default="compile")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lm, prompt = case(args.model, args.prompt_tokens)
    other = prompt_of(lm.tokenizer, args.prompt_tokens + 16)
    options = {
        "target_text": TARGET,
        "max_target_tokens": args.targets,
        "baseline": "unk",
        "n_steps": args.points,  # fixed Gauss-Legendre points
    }
    load = os.getloadavg()
    sides = {"eager": {}, "compile_layers": {"compile_layers": True}}
    first, first_other, seconds, results = {}, {}, {name: [] for name in sides}, {}
    for name, extra in sides.items():  # the first call of each: compilation, and the eager warm-up
        results[name], first[name] = timed(lambda extra=extra: attribute(lm, prompt, **options, **extra))
    for _ in range(args.repeats):
        for name, extra in sides.items():
            results[name], spent = timed(lambda extra=extra: attribute(lm, prompt, **options, **extra))
            seconds[name].append(spent)
    for name, extra in sides.items():
        _, first_other[name] = timed(lambda extra=extra: attribute(lm, other, **options, **extra))
    after = os.getloadavg()
    assert any("ran compiled" in n for n in results["compile_layers"].notes), results["compile_layers"].notes
    reference = results["eager"].scores
    scale = float(np.nanmax(np.abs(reference)))
    rows = []
    for name in sides:
        diff = float(np.nanmax(np.abs(results[name].scores - reference))) / scale
        rows.append(
            f"| {name} | {first[name]:.2f} s | {median_range(seconds[name])} | {first_other[name]:.2f} s | {diff:.1e} |"
        )
    gain = statistics.median(seconds["eager"]) / statistics.median(seconds["compile_layers"])
    res = results["eager"]
    section = results_table(
        f"compile_layers (torch.compile of the decoder layers) at {args.model} geometry (issue 19)",
        f"{args.model} geometry (random weights), CPU float32, 2 threads, IG on the logit with {args.points} fixed "
        f"Gauss-Legendre points, UNK baseline, {len(res.target_tokens)} forced targets after a "
        f"{len(res.source_tokens)}-token Python prompt; the compiled side is `compile_layers=True` (each decoder "
        f"layer compiled, torch {torch.__version__}, a fresh inductor cache). Steady calls: {args.repeats} "
        "interleaved after the first call of each side. "
        f"Steady gain (medians): {gain:.2f}×. {load_note(load, after)}",
        [
            "side",
            "first call",
            "steady call",
            f"first call at {args.prompt_tokens + 16} prompt tokens",
            "max score diff ÷ largest",
        ],
        rows,
    )
    publish(section, args.section, write=not args.no_write)


if __name__ == "__main__":
    main()
