"""Perturbation methods with and without the prefix KV cache (issue 19, goal 4).

Same call both sides (``reuse_prefix=True`` / ``False``), interleaved, after one warm-up of each;
median (min–max) of ``--repeats`` runs, and the largest score difference between the two.

Prediction (written before measuring): occlusion's chunk of positions [k, k + c) runs L − k
positions instead of L. With the CPU cap of 64 rows per pass, L = 256 is 4 chunks and computes
(256 + 192 + 128 + 64) / (4 · 256) = 62.5% of the positions: ~1.6×; L = 1024 is 16 chunks, 53%:
~1.9× (attention's cost per query falls the same way); L = 500 (the embedded model's longest
prompt, 8 chunks) computes 55%: ~1.8×. LIME and KernelSHAP switch random subsets:
the first perturbed position of a 64-row batch is almost always 0 or 1, so ~1.0× (no gain).
Found since: at L = 256 every pass of either (64 samples) has a row that switches position 0, so
the reuse never engages and both sides run the same passes: their ratio is the machine's spread.
Sorting captum's rows by their first switched position would not change that (simulated with
captum's KernelSHAP size distribution: 93–99% of the positions still run at 64–200 samples).

    python benchmarks/bench_prefix_reuse.py --lengths 256     # writes its section of RESULTS.md
    python benchmarks/bench_prefix_reuse.py --lengths 1024 --positions 2048 --section prefix-reuse-1k

The embedded model reads at most 512 tokens; ``--positions N`` builds its geometry with room for N
(random weights, seed 0), so the same layers are timed at L = 1024.
"""

from __future__ import annotations

import argparse
import copy
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

from geometries import prompt_of  # noqa: E402
from measure import load_note, median_range, publish, results_table  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402

CASES = {
    "occlusion": {"method": "occlusion", "max_target_tokens": 4},
    "kernel_shap": {"method": "kernel_shap", "n_samples": 64, "max_target_tokens": 2},
    "lime": {"method": "lime", "n_samples": 64, "max_target_tokens": 2},
}
TARGET = "\n    return total / len(values)\n"


def longer(lm, positions: int):  # type: ignore[no-untyped-def]
    """``lm``'s architecture and tokenizer with ``positions`` positions, random weights (seed 0)."""
    from transformers import AutoModelForCausalLM

    from tokenlight.engine import from_objects

    config = copy.deepcopy(lm.model.config)
    config.n_positions = positions
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    return from_objects(model, lm.tokenizer, name=f"{lm.name}-{positions}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=list(CASES))
    parser.add_argument("--positions", type=int, help="the embedded geometry with room for N tokens, random weights")
    parser.add_argument("--section", default="prefix-reuse")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lm = load_model()
    model_text = "Embedded model (GPT-2 style, 4 layers × 256)"
    if args.positions is not None:
        lm = longer(lm, args.positions)
        model_text = f"The embedded geometry (GPT-2 style, 4 layers × 256), {args.positions} positions, random weights"
    rows = []
    load = os.getloadavg()
    for length in args.lengths:
        prompt = prompt_of(lm.tokenizer, length)
        for name in args.methods:
            options = {**CASES[name], "target_text": TARGET, "seed": 0}
            results = {on: attribute(lm, prompt, reuse_prefix=on, **options) for on in (False, True)}  # warm-ups
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeats):
                for on in (False, True):
                    t0 = time.perf_counter()
                    attribute(lm, prompt, reuse_prefix=on, **options)
                    times[on].append(time.perf_counter() - t0)
            off_s, on_s = results[False].scores, results[True].scores
            diff = float(np.nanmax(np.abs(on_s - off_s)) / np.nanmax(np.abs(off_s)))
            gain = statistics.median(times[False]) / statistics.median(times[True])
            n = len(results[True].source_tokens) + len(results[True].target_tokens) - 1
            off, on = median_range(times[False]), median_range(times[True])
            rows.append(f"| {name} | {n} | {off} | {on} | {gain:.2f}× | {diff:.1e} |")
            print(rows[-1], flush=True)
    after = os.getloadavg()
    section = results_table(
        "Prefix KV reuse in the perturbation methods (issue 19)",
        f"{model_text}, CPU float32, 2 threads; occlusion with 4 forced targets, "
        "KernelSHAP and LIME with 64 samples and 2 targets, after an L-token Python prompt; interleaved, warm-ups "
        "both sides. Predicted: occlusion 1.6× at L = 256, 1.8× at L = 500, 1.9× at L = 1024; KernelSHAP and LIME "
        "~1.0×. "
        f"{load_note(load, after)}",
        ["method", "L", "reuse off", "reuse on", "gain (medians)", "max difference / max score"],
        rows,
    )
    publish(section, args.section, write=not args.no_write)


if __name__ == "__main__":
    main()
