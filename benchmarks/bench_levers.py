"""Each performance lever on its own, against the same run without it (interleaved, one process).

* causal truncation: ``group_targets=True`` (targets in groups on their own prefixes) vs ``False``
  (one group: every target's backward pass runs over the whole sequence), both at 50
  Gauss-Legendre points;
* adaptive integration: the default (nested Clenshaw-Curtis until |delta| ≤ 1e-3·|f(x) − f(x′)|) vs
  50 fixed Gauss-Legendre points, both with the default grouping (the 50-point run is the one of
  the first lever: one call measured once, not twice).

Each variant is timed ``--repeats`` times, interleaved; the table gives the median and the
min–max, so that a gain smaller than the spread reads as what it is.

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

from measure import median_range, results_table, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine.grouping import plan_target_groups  # noqa: E402

PROMPT = 'def mean(values):\n    """Return the arithmetic mean of values."""\n    total ='


VARIANTS = ("one group", "grouped", "adaptive")


def _call(lm, text: str, variant: str):
    if variant == "one group":
        return attribute(lm, PROMPT, target_text=text, n_steps=50, group_targets=False)
    if variant == "grouped":
        return attribute(lm, PROMPT, target_text=text, n_steps=50)
    return attribute(lm, PROMPT, target_text=text)


def _timings(lm, text: str, repeats: int) -> dict[str, list[float]]:
    """Seconds per variant, the variants interleaved so that outside load hits them alike."""
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(repeats):
        for variant in VARIANTS:
            t0 = time.perf_counter()
            _call(lm, text, variant)
            times[variant].append(time.perf_counter() - t0)
    return times


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
        times = _timings(lm, text, args.repeats)
        whole, grouped, adaptive = (statistics.median(times[variant]) for variant in VARIANTS)
        points = attribute(lm, PROMPT, target_text=text).n_steps
        one, grouped_s, adaptive_s = (median_range(times[variant]) for variant in VARIANTS)
        rows.append(
            f"| {n_targets} | {len(groups)} groups | {one} | {grouped_s} | {whole / grouped:.2f}× "
            f"| {adaptive_s} ({points} pts) | {grouped / adaptive:.2f}× |"
        )
        print(rows[-1], flush=True)
    table = results_table(
        "Levers, one at a time",
        f"Embedded model, CPU float32, 2 threads, prompt of {n_sources} tokens, IG on the logit, zero baseline; "
        f"median (min–max) of {args.repeats} interleaved runs on a shared 2-core machine (other jobs ran "
        "meanwhile: read gains within the spread as noise).",
        [
            "T",
            "plan",
            "one group, 50 GL (group_targets off)",
            "causal truncation, 50 GL (group_targets on)",
            "truncation gain",
            "adaptive (group_targets on)",
            "adaptive gain over 50 GL",
        ],
        rows,
    )
    write_section(args.output, "levers", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
