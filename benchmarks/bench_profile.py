"""Where IG's time goes on the embedded model, and what the per-target output head saves.

1. The per-target head (each target's value from its own row of the output matrix, no
   full-vocabulary logits in any backward pass) against the full-logits path the engine falls back
   to for models whose logits are not head(body(x)): the same IG call, interleaved, median.
2. torch.profiler over one IG call: the operators with the largest share of self CPU time.

    python benchmarks/bench_profile.py     # writes its section of benchmarks/RESULTS.md
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
from tokenlight.engine import heads  # noqa: E402

PROMPT = 'def mean(values):\n    """Return the arithmetic mean of values."""\n    total ='


def _full_logits(model):
    return None  # what split_body_and_head answers for a model it cannot split


def head_rows(lm, texts: dict[int, str], repeats: int) -> list[str]:
    """Per-target head vs full logits, IG at 50 Gauss-Legendre points, interleaved."""
    split = heads.split_body_and_head
    rows = []
    for n_targets, text in texts.items():
        times: dict[str, list[float]] = {"full": [], "head": []}
        for _ in range(repeats):
            for variant in times:
                heads.split_body_and_head = _full_logits if variant == "full" else split
                try:
                    start = time.perf_counter()
                    attribute(lm, PROMPT, target_text=text, n_steps=50)
                    times[variant].append(time.perf_counter() - start)
                finally:
                    heads.split_body_and_head = split
        full, head = (statistics.median(times[v]) for v in ("full", "head"))
        rows.append(
            f"| {n_targets} | {median_range(times['full'])} | {median_range(times['head'])} | {full / head:.2f}× |"
        )
        print(rows[-1], flush=True)
    return rows


def profile_rows(lm, text: str, top: int) -> list[str]:
    """The ``top`` operators by self CPU time in one IG call (default integration)."""
    from torch.profiler import ProfilerActivity, profile

    attribute(lm, PROMPT, target_text=text)  # warm-up outside the profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        attribute(lm, PROMPT, target_text=text)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    rows = [f"| `{e.key}` | {e.self_cpu_time_total / total:.0%} | {e.count} |" for e in ranked]
    for row in rows:
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--profile-targets", type=int, default=8)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lm = load_model(device="cpu", dtype="float32")
    most = max(*args.targets, args.profile_targets)
    generated = attribute(lm, PROMPT, max_new_tokens=most, method="saliency").target_tokens
    texts = {t: "".join(tok.text for tok in generated[:t]) for t in args.targets}
    head = head_rows(lm, texts, args.repeats)
    shares = profile_rows(lm, "".join(tok.text for tok in generated[: args.profile_targets]), args.top)
    table = results_table(
        "Per-target output head, and where IG's time goes",
        "Embedded model, CPU float32, 2 threads, IG on the logit, zero baseline, forced targets. First: 50 "
        f"Gauss-Legendre points, median (min–max) of {args.repeats} interleaved runs, the per-target head against "
        "the full-logits path (the engine's fallback). Then: torch.profiler over one IG call (adaptive default) at "
        f"T={args.profile_targets}, operators by share of self CPU time. Shared machine: times are noisy.",
        ["T", "full logits", "per-target head", "gain (full ÷ head, medians)"],
        head,
        "| operator | share of self CPU time | calls |",
        "|---|---|---|",
        *shares,
    )
    write_section(args.output, "profile", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
