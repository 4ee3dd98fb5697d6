"""First colours at once: when the first partial result arrives against the whole attribution
(issue 19, goal 2).

The engine's ``attribute(on_partial=...)`` (what the language server's ``partialResultToken`` uses)
at T = 16 forced targets: seconds to the first partial result, to the last, and the same call
without streaming (the streamed call runs its targets in groups of at most T/4, the first of at
most T/8, so a few more forward passes: this is what that costs). Interleaved, warm-ups both sides,
median (min–max).

Prediction: the first group (2 targets on the shortest prefix) ends at ≤ 15% of the streamed call
(its modelled cost is 12% of the whole, plus the problem's set-up: tokens, f(x) and f(x′)); with the
first group at T/4 it came at 29%. The streamed call costs ≤ 10% more than the plain one (3 more
forwards against 1 + T passes per point chunk).

    python benchmarks/bench_streaming.py            # writes its section of benchmarks/RESULTS.md
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

from geometries import prompt_of  # noqa: E402
from measure import load_note, median_range, publish, results_table  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402

TARGET = "\n    for value in values:\n        total += value\n    return total / len(values)\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=16)
    parser.add_argument("--prompt-tokens", type=int, default=75)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lm = load_model()
    prompt = prompt_of(lm.tokenizer, args.prompt_tokens)
    options = {"target_text": TARGET, "max_target_tokens": args.targets}
    first: list[float] = []
    streamed: list[float] = []
    plain: list[float] = []
    load = os.getloadavg()
    attribute(lm, prompt, **options)  # warm-ups
    attribute(lm, prompt, on_partial=lambda part: None, **options)
    for _ in range(args.repeats):
        arrivals: list[float] = []
        t0 = time.perf_counter()
        res = attribute(lm, prompt, on_partial=lambda part, seen=arrivals: seen.append(time.perf_counter()), **options)
        streamed.append(time.perf_counter() - t0)
        first.append(arrivals[0] - t0)
        t0 = time.perf_counter()
        attribute(lm, prompt, **options)
        plain.append(time.perf_counter() - t0)
    after = os.getloadavg()
    share = statistics.median(f / s for f, s in zip(first, streamed, strict=True))
    cost = statistics.median(streamed) / statistics.median(plain)
    rows = [
        f"| {len(res.target_tokens)} | {len(res.source_tokens)} | {median_range(first)} | {median_range(streamed)} | "
        f"{share:.0%} | {median_range(plain)} | {cost:.2f}× |"
    ]
    section = results_table(
        "Streaming: the first partial result (issue 19)",
        "Embedded model, CPU float32, 2 threads, IG (adaptive default) on the logit, forced targets after a "
        f"{args.prompt_tokens}-token Python prompt; `attribute(on_partial=...)`, as the language server's "
        "partialResultToken runs it (first group at most T/8, the others T/4). Predicted: first partial at ≤ 15%, "
        "streaming costs ≤ 10% more. "
        f"{load_note(load, after)}",
        ["T", "S", "first partial", "streamed, whole", "first ÷ whole", "not streamed", "streamed ÷ not"],
        rows,
    )
    publish(section, "streaming", write=not args.no_write)


if __name__ == "__main__":
    main()
