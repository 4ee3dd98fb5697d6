"""What LRP and AttnLRP cost next to the single-pass gradient methods and Integrated Gradients.

Prediction: LRP and AttnLRP are one forward and T backward passes like Input × Gradient; their
rules add element-wise work (activation ratios, detached norms) and AttnLRP's two extra half-matmul
gradients per head, so ≤ 1.3× Input × Gradient, and IG's adaptive default (≥ 17 points) several
times more. Methods interleaved per repeat, one process, so outside load hits them alike.

    python benchmarks/bench_propagation.py     # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from measure import measure, results_table, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402

PROMPT = 'def mean(values):\n    """Return the arithmetic mean of values."""\n    total ='
METHODS = ("input_x_gradient", "lrp", "attnlrp", "integrated_gradients")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(2)
    lm = load_model(device=args.device, dtype="float32")
    generated = attribute(lm, PROMPT, max_new_tokens=max(args.targets), method="saliency").target_tokens
    rows = []
    for n_targets in args.targets:
        text = "".join(t.text for t in generated[:n_targets])
        for method in METHODS:  # warm-up: first-call costs (kernels, caches) out of the timings
            attribute(lm, PROMPT, target_text=text, method=method)
        seconds: dict[str, list[float]] = {m: [] for m in METHODS}
        memory: dict[str, int] = dict.fromkeys(METHODS, 0)
        for _ in range(args.repeats):
            for method in METHODS:
                _, elapsed, extra = measure(lambda m=method, t=text: attribute(lm, PROMPT, target_text=t, method=m))
                seconds[method].append(elapsed)
                memory[method] = max(memory[method], extra)
        median = {m: sorted(v)[len(v) // 2] for m, v in seconds.items()}
        base = median["input_x_gradient"]
        cells = " | ".join(
            f"{median[m] * 1000:.0f} ms ({median[m] / base:.2f}×, {memory[m] / 2**20:.0f} MiB)" for m in METHODS
        )
        rows.append(f"| {n_targets} | {cells} |")
        print(rows[-1], flush=True)
    table = results_table(
        "LRP and AttnLRP next to Input × Gradient and IG",
        f"Embedded model, {args.device} float32, forced targets on the logit, median of {args.repeats} interleaved "
        "runs (ratio to Input × Gradient, peak extra memory).",
        ["T", *METHODS],
        rows,
    )
    write_section(args.output, f"propagation-{args.device}", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
