"""Span methods at file scale: span_occlusion at L = 512 / 2048, and context_ablation against
leave-one-out (span_occlusion) for cost and agreement, on a tiny-but-wide Llama (random weights).

Predictions (written before the run, in RESULTS.md beside the outcome):
- span_occlusion is U forwards of length L (U spans) in chunks: at line granularity U ≈ L / 10, so
  going from L = 512 to 2048 costs ≈ 16× (U × L), a little more where attention's L² shows.
- context_ablation with N masks costs N + max(8, N/4) forwards of length L against leave-one-out's U:
  cheaper than leave-one-out when N·1.25 < U; its agreement with leave-one-out rises with N.

Runs alternate (occlusion, ablation, ...) so that load from other processes hits both alike.

    python benchmarks/bench_spans.py            # writes the spans section of benchmarks/RESULTS.md
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

from measure import machine_description, results_table, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine import from_objects  # noqa: E402

LINES = [
    "def parse_args(argv):",
    '    """Parse the command line."""',
    "    parser = argparse.ArgumentParser(prog='tool')",
    "    parser.add_argument('--verbose', action='store_true')",
    "    return parser.parse_args(argv)",
    "",
    "class Store:",
    "    def __init__(self, path):",
    "        self.path = path",
    "        self.items = {}",
    "",
]
TARGET = " return self.items"


def wide_llama(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=512,
        intermediate_size=1024,
        num_hidden_layers=2,
        num_attention_heads=8,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    return from_objects(LlamaForCausalLM(config).eval(), tokenizer, name="wide-llama-2x512")


def document(tokenizer, n_tokens: int) -> str:
    """Whole lines of Python-like text of about ``n_tokens`` tokens (BOS included)."""
    text, i = "", 0
    while len(tokenizer(text + LINES[i % len(LINES)] + "\n")["input_ids"]) < n_tokens - 1:
        text += LINES[i % len(LINES)] + "\n"
        i += 1
    return text + "    x ="


MODEL = "a random-weight Llama, 2 layers × 512 (8,192 vocabulary), CPU float32, 2 threads"


def spread(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}–{max(seconds):.2f}, {len(seconds)} runs)"


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", default="512,2048")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--masks", default="16,32,64,128")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--occlusion-only", action="store_true", help="only span_occlusion, reuse off and on")
    args = parser.parse_args()
    torch.set_num_threads(2)
    tokenizer = load_model(device="cpu", dtype="float32").tokenizer
    lm = wide_llama(tokenizer)
    common = {"target_text": TARGET, "granularity": "line", "drill_down": 0}

    rows_occ = []
    for length in [int(v) for v in args.lengths.split(",")]:
        text = document(tokenizer, length)
        for reuse in (True, False):  # warm-ups
            attribute(lm, text[:200], method="span_occlusion", reuse_prefix=reuse, **common)
        seconds: dict[bool, list[float]] = {True: [], False: []}
        results = {}
        for _ in range(args.repeats if length <= 512 else 1):
            for reuse in (True, False):  # interleaved: outside load hits both alike
                results[reuse], s = timed(
                    lambda t=text, r=reuse: attribute(lm, t, method="span_occlusion", reuse_prefix=r, **common)
                )
                seconds[reuse].append(s)
        on, off = results[True], results[False]
        scale = float(np.abs(off.span_scores).max())
        diff = float(np.abs(on.span_scores - off.span_scores).max()) / scale
        gain = statistics.median(seconds[False]) / statistics.median(seconds[True])
        rows_occ.append(
            f"| {len(on.source_tokens)} | {len(on.spans)} | {len(on.target_tokens)} | {spread(seconds[False])} | "
            f"{spread(seconds[True])} | {gain:.2f}× | {diff:.1e} |"
        )
        print(rows_occ[-1], flush=True)
    occlusion_table = results_table(
        "Span occlusion at file scale, prefix reuse off and on",
        f"{MODEL}; line granularity, {len(on.target_tokens)} forced targets, replace ablation, no drill-down; "
        "each chunk of left-out spans reuses the keys and values of the positions before its first left-out token "
        "(`reuse_prefix`). Interleaved, warm-ups both sides. Predicted: 1.5–1.9× (a chunk recomputes only the "
        f"positions from its first left-out span on). Load average before: {os.getloadavg()[0]:.1f}.",
        ["L (tokens)", "spans", "T", "reuse off", "reuse on", "gain (medians)", "max span-score difference ÷ largest"],
        rows_occ,
    )
    if args.occlusion_only:
        write_section(args.output, "span-reuse", occlusion_table)
        print(occlusion_table)
        return

    text = document(tokenizer, 512)
    loo, loo_s = timed(lambda: attribute(lm, text, method="span_occlusion", **common))
    rows_ab = [f"| leave-one-out (span_occlusion) | {len(loo.spans)} | {loo_s:.2f} s | – | 1 | 5 of 5 |"]
    reference = loo.span_scores.astype(np.float64)
    top = set(np.argsort(-np.abs(reference).sum(axis=0))[:5].tolist())
    for n in [int(v) for v in args.masks.split(",")]:
        res, s = timed(lambda n=n: attribute(lm, text, method="context_ablation", n_samples=n, **common))
        scores = res.span_scores.astype(np.float64)
        corr = float(np.mean([np.corrcoef(scores[t], reference[t])[0, 1] for t in range(len(scores))]))
        found = len(top & set(np.argsort(-np.abs(scores).sum(axis=0))[:5].tolist()))
        fit = float(np.mean(res.span_fit))
        forwards = n + max(8, n // 4)
        rows_ab.append(f"| context_ablation, N = {n} ({forwards} forwards) | {len(res.spans)} | {s:.2f} s | "
                       f"{fit:.3f} | {corr:.3f} | {found} of 5 |")  # fmt: skip
        print(rows_ab[-1], flush=True)

    section = "\n\n".join(
        [
            occlusion_table,
            results_table(
                "context_ablation against leave-one-out",
                f"{MODEL}; the same ~512-token document at line granularity; one run each. Agreement: mean "
                "over targets of the Pearson correlation of span scores with leave-one-out's, and how many of "
                "leave-one-out's top 5 spans (by |score| summed over targets) are in context_ablation's top 5.",
                ["method", "spans", "time", "held-out R² (mean)", "correlation with leave-one-out", "top 5"],
                rows_ab,
            ),
        ]
    )
    write_section(args.output, "spans", section)
    print(f"wrote {args.output} ({machine_description()})")


if __name__ == "__main__":
    main()
