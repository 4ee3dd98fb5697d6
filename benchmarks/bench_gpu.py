"""The GPU benchmark (issue 19, goal 5): GPT-2-small and Llama-1B geometries in bf16.

For each model, T ∈ {8, 32} forced targets and L ∈ {256, 2048} tokens: Integrated Gradients with 17
Gauss-Legendre points (fixed, so both sides of any comparison do the same work) and input × gradient.
Reported: seconds (median of ``--repeats`` after a warm-up), peak GPU memory, and achieved TFLOP/s
against the chip's peak, from this FLOP model (stated, not measured):

* one forward of one point: 2·N·L (N = non-embedding parameters; the head only at the T target
  rows) + 4·layers·L²·d (attention scores and values, causal mask not discounted);
* each target's input-gradient backward ≈ one forward (no weight gradients are formed);
* IG: points × (1 + T) forwards in all, input × gradient: 1 + T (targets in groups run on shorter
  prefixes, so this overstates the work and the TFLOP/s slightly).

Models are built from configs with random weights (nothing downloaded). ``--smoke`` runs a tiny case
on whatever device there is, to check the script itself.

    python benchmarks/bench_gpu.py                # on a CUDA machine; writes its section of RESULTS.md
    python benchmarks/bench_gpu.py --smoke --no-write
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

from geometries import build, parameters, prompt_of  # noqa: E402
from measure import results_table, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine import from_objects  # noqa: E402

# dense bf16 peak TFLOP/s by device name fragment (vendor data sheets, without sparsity)
PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "4090": 165.0}
TARGET = "\n    for value in values:\n        total += value\n    return total / len(values)\n" * 4


def flops(model, length: int, n_targets: int, points: int) -> float:
    cfg = model.config
    d = cfg.hidden_size
    layers = cfg.num_hidden_layers
    n = parameters(model) - model.get_input_embeddings().weight.numel() - model.get_output_embeddings().weight.numel()
    forward = 2 * n * length + 4 * layers * length * length * d
    return float(points * (1 + n_targets) * forward)


def peak_tflops(name: str) -> float | None:
    return next((v for k, v in PEAKS.items() if k in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=["gpt2-small", "llama-1b"])
    parser.add_argument("--targets", type=int, nargs="*", default=[8, 32])
    parser.add_argument("--lengths", type=int, nargs="*", default=[256, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a tiny case on any device (checks the script)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        sys.exit("bench_gpu.py needs a CUDA device (use --smoke to check the script on this machine)")
    if args.smoke:
        args.models, args.targets, args.lengths, args.repeats = ["gpt2-small"], [2], [32], 1
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = peak_tflops(name)
    tok = load_model().tokenizer
    rows = []
    for model_name in args.models:
        model = build(model_name, tok, max_positions=max(args.lengths) + 64, dtype=dtype).to(device)
        lm = from_objects(model, tok, name=model_name)
        for length in args.lengths:
            prompt = prompt_of(tok, length)
            for n_targets in args.targets:
                for method, points in (("integrated_gradients", 17), ("input_x_gradient", 1)):
                    options = {"method": method, "target_text": TARGET, "max_target_tokens": n_targets}
                    if method == "integrated_gradients":
                        options["n_steps"] = points
                    res = attribute(lm, prompt, **options)  # warm-up
                    seconds, memory = [], 0
                    for _ in range(args.repeats):
                        if cuda:
                            torch.cuda.synchronize()
                            torch.cuda.reset_peak_memory_stats()
                        t0 = time.perf_counter()
                        res = attribute(lm, prompt, **options)
                        if cuda:
                            torch.cuda.synchronize()
                            memory = max(memory, torch.cuda.max_memory_allocated())
                        seconds.append(time.perf_counter() - t0)
                    s = statistics.median(seconds)
                    total = len(res.source_tokens) + len(res.target_tokens) - 1
                    achieved = flops(model, total, len(res.target_tokens), points) / s / 1e12
                    share = f"{achieved / peak:.1%}" if peak else "n/a"
                    worst = None if res.deltas is None else float(abs(res.deltas).max())
                    rows.append(
                        f"| {model_name} | {method} | {len(res.target_tokens)} | {total} | {s:.2f} s "
                        f"({min(seconds):.2f}–{max(seconds):.2f}) | {achieved:.1f} | {share} | "
                        f"{memory / 1024**3:.1f} GiB | {'—' if worst is None else f'{worst:.1e}'} |"
                    )
                    print(rows[-1], flush=True)
        del lm, model
        if cuda:
            torch.cuda.empty_cache()
    section = results_table(
        "GPU: real geometries in bf16 (issue 19)",
        f"Device {name} ({dtype}); IG with 17 fixed Gauss-Legendre points and input × gradient, forced targets after "
        "an L-token Python prompt; median (min–max) of the repeats after a warm-up; TFLOP/s from the FLOP model in "
        f"the script's docstring against a peak of {peak or 'unknown'} TFLOP/s.",
        ["model", "method", "T", "L", "seconds", "TFLOP/s", "of peak", "peak memory", "worst |delta|"],
        rows,
    )
    print(section)
    if not args.no_write and not args.smoke:
        write_section(HERE / "RESULTS.md", "gpu", section)


if __name__ == "__main__":
    main()
