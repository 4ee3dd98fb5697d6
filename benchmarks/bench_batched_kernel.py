"""Batched kernel vs. the per-target loop, on the embedded model.

The per-target loop is what inseq and captum's LLMGradientAttribution do: for every target t, one
captum IntegratedGradients run on the growing prefix (n_steps forwards + backwards each). Ours:
``tokenlight.attribute`` on the same prompt and the same forced targets, so generation is not
timed on either side. Both use Gauss-Legendre with the same n_steps, a zero baseline, the logit.

Runs are interleaved (loop, ours, loop, ours, ...) so that load from other processes hits both
alike; we report the median and the min–max spread of each, and the ratio of medians.

    python benchmarks/bench_batched_kernel.py            # writes benchmarks/RESULTS.md
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
from captum.attr import IntegratedGradients  # noqa: E402

from measure import provenance, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402

PROMPT = 'def mean(values):\n    """Return the arithmetic mean of values."""\n    total ='


def per_target_loop(lm, ids: list[int], n_sources: int, target_ids: list[int], n_steps: int) -> list[np.ndarray]:
    """The peers' way: one captum IG per target on its own prefix."""
    model = lm.model
    rows = []
    for t, target in enumerate(target_ids):
        prefix = torch.tensor([ids[: n_sources + t]])
        emb = model.get_input_embeddings()(prefix).detach()

        def forward(x: torch.Tensor, _target: int = target) -> torch.Tensor:
            return model(inputs_embeds=x).logits[:, -1, _target]

        attr = IntegratedGradients(forward).attribute(
            emb, baselines=torch.zeros_like(emb), n_steps=n_steps, method="gausslegendre", internal_batch_size=n_steps
        )
        rows.append(attr.sum(-1)[0].detach().numpy())
    return rows


def bench(args: argparse.Namespace) -> str:
    torch.set_num_threads(args.threads)
    lm = load_model(device="cpu", dtype="float32")
    max_t = max(args.targets)
    continuation = attribute(lm, PROMPT, max_new_tokens=max_t, method="saliency").target_tokens
    lines = [
        "| T | per-target loop (captum IG per prefix) | Tokenlight batched kernel | speed-up | max abs diff |",
        "|---|---|---|---|---|",
    ]
    for n_targets in args.targets:
        targets = continuation[:n_targets]
        target_text = "".join(t.text for t in targets)
        loop_times, ours_times = [], []
        res = None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            # fixed n_steps: this table isolates the batching; adaptive integration is in bench_peers.py
            res = attribute(lm, PROMPT, target_text=target_text, n_steps=args.n_steps)
            ours_times.append(time.perf_counter() - t0)
            s = len(res.source_tokens)
            ids = [tok.id for tok in res.source_tokens] + [tok.id for tok in res.target_tokens]
            t0 = time.perf_counter()
            rows = per_target_loop(lm, ids, s, [tok.id for tok in res.target_tokens], args.n_steps)
            loop_times.append(time.perf_counter() - t0)
        assert res is not None
        diff = max(float(np.abs(res.scores[t, : s + t] - row).max()) for t, row in enumerate(rows))
        if len(res.target_tokens) != n_targets:
            print(f"note: forced text re-tokenised into {len(res.target_tokens)} targets for T={n_targets}")
        lm_med, our_med = statistics.median(loop_times), statistics.median(ours_times)
        lines.append(
            f"| {len(res.target_tokens)} | {lm_med:.2f} s ({min(loop_times):.2f}–{max(loop_times):.2f}) | "
            f"{our_med:.2f} s ({min(ours_times):.2f}–{max(ours_times):.2f}) | "
            f"**{lm_med / our_med:.1f}×** | {diff:.1e} |"
        )
        print(lines[-1], flush=True)
    header = (
        f"Embedded model {lm.name} ({lm.parameters / 1e6:.1f}M parameters), CPU float32, "
        f"{args.threads} threads, prompt of {len(res.source_tokens)} tokens (BOS included), IG with "
        f"{args.n_steps} Gauss-Legendre points, zero baseline, logit; median of {args.repeats} interleaved "
        f"runs (min–max). {provenance()}"
    )
    return header + "\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    table = bench(args)
    stamp = time.strftime("%Y-%m-%d")
    write_section(args.output, "batched-kernel", f"## Batched kernel vs per-target loop ({stamp})\n\n{table}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
