"""Each performance lever on its own, against the same run without it (interleaved, one process).

* causal truncation: ``group_targets=True`` (targets in groups on their own prefixes) vs ``False``,
  both at 50 Gauss-Legendre points;
* adaptive integration: the default (nested Clenshaw-Curtis until |delta| ≤ 1e-3·|f(x) − f(x′)|) vs
  50 fixed Gauss-Legendre points.

    python benchmarks/bench_levers.py      # writes its section of benchmarks/RESULTS.md
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

from measure import results_table, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine.grouping import plan_target_groups  # noqa: E402

PROMPT = 'def mean(values):\n    """Return the arithmetic mean of values."""\n    total ='


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lm = load_model(device="cpu", dtype="float32")
    generated = attribute(lm, PROMPT, max_new_tokens=max(args.targets), method="saliency").target_tokens
    rows = []
    for n_targets in args.targets:
        text = "".join(t.text for t in generated[:n_targets])
        n_sources = len(attribute(lm, PROMPT, target_text=text, method="saliency").source_tokens)
        groups = plan_target_groups(n_sources, n_targets)
        whole = grouped = fixed = adaptive = 0.0
        for _ in range(args.repeats):  # interleave the variants so outside load hits them alike
            whole += _median_time(
                lambda t=text: attribute(lm, PROMPT, target_text=t, n_steps=50, group_targets=False), 1
            )
            grouped += _median_time(lambda t=text: attribute(lm, PROMPT, target_text=t, n_steps=50), 1)
            fixed += _median_time(lambda t=text: attribute(lm, PROMPT, target_text=t, n_steps=50), 1)
            adaptive += _median_time(lambda t=text: attribute(lm, PROMPT, target_text=t), 1)
        points = attribute(lm, PROMPT, target_text=text).n_steps
        rows.append(
            f"| {n_targets} | {len(groups)} groups | {whole / args.repeats:.2f} s | {grouped / args.repeats:.2f} s "
            f"| {whole / grouped:.2f}× | {fixed / args.repeats:.2f} s | {adaptive / args.repeats:.2f} s ({points} pts) "
            f"| {fixed / adaptive:.2f}× |"
        )
        print(rows[-1], flush=True)
    table = results_table(
        "Levers, one at a time",
        f"Embedded model, CPU float32, 2 threads, prompt of {n_sources} tokens, IG on the logit, zero baseline; "
        f"mean of {args.repeats} interleaved runs. Reproduce: `python benchmarks/bench_levers.py`.",
        [
            "T",
            "plan",
            "one group (50 GL)",
            "causal truncation (50 GL)",
            "gain",
            "fixed 50 GL points",
            "adaptive",
            "gain",
        ],
        rows,
    )
    write_section(args.output, "levers", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
