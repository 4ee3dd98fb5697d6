"""Adaptive IG's level sequences against each other (issue 19, goal 1): the Gauss-Kronrod-Patterson
levels 7, 15, 31, 63 (the default), the earlier 7/15 then Clenshaw-Curtis 33, 65, and the nested
Clenshaw-Curtis levels 5, 9, 17 before that.

The setting of the issue: GPT-2-small geometry (12 × 768, random weights, the embedded tokenizer's
8,192 vocabulary), a 75-token Python prompt, 12 forced targets, IG on the logit, UNK baseline, CPU
float32, 2 threads; ``--model llama-300m --prompt-tokens 256 --targets 8`` is the Llama-style case.
Every sequence stops each target at its own |delta| ≤ 1e-3·|f(x) − f(x′)|. Reported:
seconds (interleaved, warm-ups both sides, median and min–max), the gradient evaluations (points ×
targets that got a backward pass: the work, independent of the machine's load), the level reached,
the worst |delta| ÷ |f(x) − f(x′)|, and the largest difference from 50 Gauss-Legendre points (what
inseq computes by default) ÷ the largest score.

Predictions. Gauss-Kronrod 7/15 against Clenshaw-Curtis 5, 9, 17 (GPT-2-small): Gauss rules need
about half the points of Clenshaw-Curtis on smooth integrands, ~20% fewer gradient evaluations and
seconds. Patterson 31 against Clenshaw-Curtis 33 after 15 (Llama-300m, where every target misses
1e-3 at 15 points): 31 evaluations per target instead of 47, ~1.4–1.5× fewer seconds; no change
where every target stops by 15.

    python benchmarks/bench_adaptive_rule.py      # writes its section of benchmarks/RESULTS.md
    python benchmarks/bench_adaptive_rule.py --model llama-300m --prompt-tokens 256 --targets 8 \
        --rules patterson,kronrod-cc --repeats 1 --section adaptive-rule-llama-300m
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

from geometries import add_case_arguments, case  # noqa: E402
from measure import load_note, median_range, publish, results_table  # noqa: E402
from tokenlight import attribute  # noqa: E402
from tokenlight.engine import kernel  # noqa: E402
from tokenlight.engine.methods.integrated_gradients import IntegratedGradients  # noqa: E402
from tokenlight.engine.quadrature import (  # noqa: E402
    ADAPTIVE_LEVELS,
    CLENSHAW_CURTIS_LEVELS,
    KRONROD_CLENSHAW_CURTIS_LEVELS,
)

TARGET = "    return sum(values) / len(values)\n\ndef median(values):\n    ordered = sorted(values)\n"
# id: (row label, levels); the first one asked is the new side of the gain, the last the old
SEQUENCES = {
    "patterson": ("Gauss-Kronrod-Patterson 7, 15, 31, 63 (default)", ADAPTIVE_LEVELS),
    "kronrod-cc": ("Gauss-Kronrod 7, 15, then CC 33, 65, ...", KRONROD_CLENSHAW_CURTIS_LEVELS),
    "cc": ("Clenshaw-Curtis 5, 9, 17, ...", CLENSHAW_CURTIS_LEVELS),
}


def counting_gradients() -> list[int]:
    """Patch the kernel to count points × targets of every backward pass."""
    counts: list[int] = []
    real = kernel._accumulate

    def counted(target_fn, inputs, baselines, alphas, *args, **kwargs):  # type: ignore[no-untyped-def]
        targets = kwargs.get("targets")
        counts.append(alphas.shape[0] * (kwargs["n_targets"] if targets is None else len(targets)))
        return real(target_fn, inputs, baselines, alphas, *args, **kwargs)

    kernel._accumulate = counted  # type: ignore[assignment]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_case_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rules", default="patterson,kronrod-cc,cc", help=f"of {', '.join(SEQUENCES)}")
    parser.add_argument("--section", default="adaptive-rule")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rules = {SEQUENCES[key][0]: SEQUENCES[key][1] for key in args.rules.split(",")}
    lm, prompt = case(args.model, args.prompt_tokens)
    options = {"target_text": TARGET, "max_target_tokens": args.targets, "baseline": "unk"}
    load = os.getloadavg()
    reference = attribute(lm, prompt, n_steps=50, **options)
    scale = float(np.nanmax(np.abs(reference.scores)))
    change = np.abs(reference.target_scores.astype(np.float64) - reference.baseline_scores)
    counts = counting_gradients()
    seconds: dict[str, list[float]] = {name: [] for name in rules}
    results, work = {}, {}
    for levels in rules.values():  # warm-ups: one target is enough to warm every code path
        IntegratedGradients.adaptive_levels = levels
        attribute(lm, prompt, **{**options, "max_target_tokens": 1})
    for _ in range(args.repeats):
        for name, levels in rules.items():
            IntegratedGradients.adaptive_levels = levels
            counts.clear()
            t0 = time.perf_counter()
            results[name] = attribute(lm, prompt, **options)
            seconds[name].append(time.perf_counter() - t0)
            work[name] = sum(counts)
    IntegratedGradients.adaptive_levels = ADAPTIVE_LEVELS
    after = os.getloadavg()
    rows = []
    for name, res in results.items():
        worst = float((np.abs(res.deltas) / change).max())
        diff = float(np.nanmax(np.abs(res.scores - reference.scores))) / scale
        rows.append(
            f"| {name} | {median_range(seconds[name])} | {work[name]} | {res.n_steps} | {worst:.1e} | {diff:.1e} |"
        )
    new, old = (statistics.median(seconds[name]) for name in (next(iter(rules)), list(rules)[-1]))
    section = results_table(
        f"Adaptive IG's level sequences at {args.model} geometry (issue 19)",
        f"{args.model} geometry (random weights), CPU float32, 2 threads, IG on the logit, UNK baseline, "
        f"{len(reference.target_tokens)} forced targets after a {len(reference.source_tokens)}-token Python prompt; "
        "each target stops at its own |delta| ≤ 1e-3·|f(x) − f(x′)|. Gradient evaluations = points × targets "
        f"given a backward pass. Gain (medians, first row against last): {old / new:.2f}×. "
        f"{load_note(load, after)}",
        [
            "levels",
            "seconds",
            "gradient evaluations",
            "last level",
            "worst \\|delta\\| ÷ \\|f(x) − f(x′)\\|",
            "max diff vs 50 GL points ÷ largest",
        ],
        rows,
    )
    publish(section, args.section, write=not args.no_write)


if __name__ == "__main__":
    main()
