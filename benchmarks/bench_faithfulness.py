"""What evaluating a result costs next to the attribution it evaluates (T = 8 targets, 11 fractions).

For each method, three variants of the same call are timed, interleaved, ``--repeats`` times after a
warm-up: the attribution alone, with ``evaluate=True, random_orders=0`` (the method's own order
only) and with the default ``random_orders=5``. The engine reports the evaluation's own time
(``faithfulness.elapsedMs``); the table gives medians with min–max, and the ratio of the
evaluation's median to the attribution's.

Prediction (written before the first run), on the embedded model (4 layers × 256) with a 24-token
prompt: per target and order about 20 distinct perturbed inputs (11 + 11 curve points and 6 ERASER
points, less those they share), so T = 8 needs ≈ 160 no-grad sequence forwards with R = 0 and
≈ 960 with R = 5, batched 64 to a pass. Integrated Gradients (adaptive, ~17–33 points, each a
forward plus 8 backward passes ≈ 17 forward-equivalents) is ≈ 300–550 forward-equivalents, so the
evaluation should cost ≈ 0.3–0.5× IG with R = 0 and ≈ 2–3× with R = 5; next to input × gradient
(one point) ≈ 5× and ≈ 30×.

    python benchmarks/bench_faithfulness.py      # writes its section of benchmarks/RESULTS.md
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

import torch  # noqa: E402

from measure import median_range, publish  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402

PROMPT = 'def mean(values):\n    """Return the arithmetic mean of values."""\n    total ='
TARGET = " sum(values)\n    return total / len(values)"
METHODS = ("input_x_gradient", "integrated_gradients", "occlusion")
VARIANTS = {
    "attribution": {},
    "evaluate, R = 0": {"evaluate": True, "random_orders": 0},
    "evaluate, R = 5": {"evaluate": True},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    lm = load_model(device=args.device, dtype="float32")
    base = {"target_text": TARGET, "max_target_tokens": 8}
    probe = attribute(lm, PROMPT, method="saliency", evaluate=True, **base)
    n_targets, n_sources = len(probe.target_tokens), len(probe.source_tokens)
    assert probe.faithfulness is not None
    sets = {"evaluate, R = 0": None, "evaluate, R = 5": probe.faithfulness["evaluations"]}
    rows = []
    for method in METHODS:
        wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
        evaluation: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for extra in VARIANTS.values():  # warm-up
            attribute(lm, PROMPT, method=method, **base, **extra)
        for _ in range(args.repeats):
            for variant, extra in VARIANTS.items():
                t0 = time.perf_counter()
                res = attribute(lm, PROMPT, method=method, **base, **extra)
                wall[variant].append(time.perf_counter() - t0)
                if res.faithfulness is not None:
                    evaluation[variant].append(res.faithfulness["elapsedMs"] / 1000.0)
                    sets[variant] = res.faithfulness["evaluations"]
        attribution = statistics.median(wall["attribution"])
        for variant in VARIANTS:
            if variant == "attribution":
                rows.append(f"| {method} | attribution only | {median_range(wall[variant])} | | |")
                continue
            ratio = statistics.median(evaluation[variant]) / attribution
            rows.append(
                f"| {method} | {variant} ({sets[variant]} inputs) | {median_range(wall[variant])} | "
                f"{median_range(evaluation[variant])} | {ratio:.2f}× |"
            )
    device = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    )
    table = "\n".join(
        [
            f"## Cost of evaluating faithfulness (T = {n_targets}, 11 fractions) ({time.strftime('%Y-%m-%d')})",
            "",
            f"`benchmarks/bench_faithfulness.py`: embedded model, {n_sources}-token prompt, "
            f"{n_targets} forced targets, "
            f"{device}, {args.repeats} interleaved repeats after a warm-up; median (min–max).",
            "",
            "| method | variant | whole call | evaluation alone | evaluation / attribution |",
            "|---|---|--:|--:|--:|",
            *rows,
        ]
    )
    publish(table, "faithfulness", write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
