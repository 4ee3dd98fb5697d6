"""Long contexts in bounded memory: peak memory and time at L = 1k/2k/4k/8k (issue 19, goal 3).

A tiny-but-wide Llama (``geometries.wide-llama``: 2 layers × 768, rotary, GQA), CPU float32,
input × gradient for 2 forced targets (one forward, two backward passes), in two modes:

* ``default``: the engine's own choice under its default budget (2 GiB on CPU);
* ``budget 64 MiB``: ``memory_budget=64``: one point's activations exceed it from L ≈ 1k on, so
  the decoder layers are recomputed in the backward passes (memory.py).

Each case runs in a fresh process (peak resident memory above the loaded model, sampled every 2 ms),
after one warm-up call at L = 256 in the same process. Predicted: the default mode's peak grows
linearly in L (~34·L·d·layers·4 bytes ≈ 0.2 GiB per 1k tokens, plus SDPA's buffers), the budgeted
mode's much more slowly (the layers' inputs plus one layer at a time), at ~1.3–1.5× the time.

    python benchmarks/bench_long_context.py             # all cases; writes its section of RESULTS.md
    python benchmarks/bench_long_context.py --case 1024 default   # one case, prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

LENGTHS = (1024, 2048, 4096, 8192)
MODES = {"default": None, "budget 64 MiB": 64}
TARGET = "\n    return"


def run_case(length: int, mode: str) -> dict:
    import torch

    from geometries import build, prompt_of
    from measure import measure
    from tokenlight import attribute, load_model
    from tokenlight.engine import from_objects

    torch.set_num_threads(2)
    tok = load_model().tokenizer
    lm = from_objects(build("wide-llama", tok), tok, name="wide-llama")
    options = {"method": "input_x_gradient", "target_text": TARGET, "max_target_tokens": 2}
    budget = MODES[mode]
    attribute(lm, prompt_of(tok, 256), memory_budget=budget, **options)  # warm-up
    prompt = prompt_of(tok, length)
    res, seconds, peak = measure(lambda: attribute(lm, prompt, memory_budget=budget, **options))
    return {
        "length": len(res.source_tokens) + len(res.target_tokens) - 1,
        "mode": mode,
        "seconds": seconds,
        "peak_bytes": peak,
        "recomputed": any("recomputed" in n for n in res.notes),
        "max_abs_score": float(abs(res.scores[~(res.scores != res.scores)]).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", nargs=2, metavar=("L", "MODE"))
    parser.add_argument("--lengths", type=int, nargs="*", default=list(LENGTHS))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1])))
        return
    import torch

    from measure import load_note, publish, results_table

    load = os.getloadavg()
    rows, results = [], []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent / "daemon"), os.environ.get("PYTHONPATH", "")]))
    for length in args.lengths:
        cells = [str(length)]
        for mode in MODES:
            out = subprocess.run(
                [sys.executable, __file__, "--case", str(length), mode], capture_output=True, text=True, env=env
            )
            if out.returncode != 0:
                cells += ["failed", out.stderr.strip().splitlines()[-1][:80] if out.stderr.strip() else ""]
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            cells += [
                f"{r['seconds']:.1f} s",
                f"{r['peak_bytes'] / 1024**3:.2f} GiB" + (" (recomputed)" if r["recomputed"] else ""),
            ]
            print(length, mode, r, flush=True)
        rows.append("| " + " | ".join(cells) + " |")
    after = os.getloadavg()
    section = results_table(
        "Long contexts in bounded memory (issue 19)",
        "wide-llama (2 layers × 768, rotary, GQA 12/4 heads, SwiGLU 2048, random weights), CPU float32, 2 threads, "
        "input × gradient for 2 forced targets after an L-token Python prompt; one run per case in a fresh process "
        "after a warm-up at L = 256; peak = resident memory above the loaded model. "
        f"{load_note(load, after)}",
        ["L", "default: time", "default: peak", "budget 64 MiB: time", "budget 64 MiB: peak"],
        rows,
    )
    publish(section, "long-context", write=not args.no_write)
    del torch


if __name__ == "__main__":
    main()
