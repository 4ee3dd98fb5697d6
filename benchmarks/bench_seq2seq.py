"""Encoder-decoder Integrated Gradients: Tokenlight against inseq 0.7.1 on a Marian-like model.

A Marian-like geometry (6 encoder + 6 decoder layers, d_model 256, 4 heads, FFN 1024, scaled
embeddings, the embedded tokenizer's 8,192-token vocabulary) with random weights (seed 0), saved to
a temporary folder that both sides load. T = 8 and 16 forced targets, IG on the logit, UNK baseline
on our side (inseq's default for IG), inseq at its default 50 Gauss-Legendre points. Two ratios:
inseq at its default against Tokenlight's adaptive default (what a user gets), and both at 50
points (the kernel alone). inseq runs in its own venv: ``--peer-python``, by default the one
``bench_peers.py`` creates under benchmarks/.peers (inseq 0.7.1 on Tokenlight's own torch,
transformers and captum).

    python benchmarks/bench_seq2seq.py   # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from measure import measure, median_range, provenance, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402

SOURCE = "def mean(values):\n    return sum(values) / len(values)"
WARMUP_TEXT = " x"


def build_model(folder: Path, layers: int = 6, d_model: int = 256) -> None:
    from transformers import MarianConfig, MarianMTModel

    from tokenlight import load_model as load_embedded

    tokenizer = load_embedded(device="cpu", dtype="float32").tokenizer
    config = MarianConfig(
        vocab_size=len(tokenizer),
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=4 * d_model,
        decoder_ffn_dim=4 * d_model,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        scale_embedding=True,
    )
    torch.manual_seed(0)
    MarianMTModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def run_inseq(python: str, folder: Path, cases: list[dict], args: argparse.Namespace) -> dict[int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp, "job.json"), Path(tmp, "out.json")
        job.write_text(
            json.dumps(
                {
                    "model_path": str(folder),
                    "source": SOURCE,
                    "cases": cases,
                    "n_steps": args.n_steps,
                    "repeats": args.repeats,
                    "threads": args.threads,
                    "warmup_text": WARMUP_TEXT,
                }
            )
        )
        subprocess.run([python, str(HERE / "peer_inseq_seq2seq.py"), str(job), str(out)], check=True)
        return {r["targets"]: r for r in json.loads(out.read_text())["results"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peer-python", help="inseq's interpreter (default: bench_peers.py's venv)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--layers", type=int, default=6, help="encoder and decoder layers each")
    parser.add_argument("--d-model", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "marian-like")
        build_model(folder, args.layers, args.d_model)
        lm = load_model(str(folder), device="cpu", dtype="float32")
        generated = attribute(lm, SOURCE, max_new_tokens=max(args.targets), method="saliency").target_tokens
        texts = [lm.tokenizer.decode([t.id for t in generated[:n]]) for n in args.targets]
        cases = [{"targets": n, "text": text} for n, text in zip(args.targets, texts, strict=True)]
        attribute(lm, SOURCE, target_text=WARMUP_TEXT, baseline="unk", n_steps=args.n_steps)
        if args.peer_python is None:
            from bench_peers import peer_python

            args.peer_python = str(peer_python())
        peers = run_inseq(args.peer_python, folder, cases, args)
        rows = []
        for case in cases:
            timings: dict[str, list[float]] = {"gl": [], "adaptive": []}
            results = {}
            for _ in range(args.repeats):
                for name in timings:
                    steps = {"n_steps": args.n_steps} if name == "gl" else {}
                    results[name], seconds, _ = measure(
                        lambda text=case["text"], steps=steps: attribute(
                            lm, SOURCE, target_text=text, baseline="unk", **steps
                        )
                    )
                    timings[name].append(seconds)
            peer = peers[case["targets"]]
            theirs = np.asarray(peer["source_scores"], dtype=np.float64)
            n_enc = sum(t.side == "encoder" for t in results["gl"].source_tokens)
            ours = results["gl"].scores[:, :n_enc].astype(np.float64)
            agree = (
                f"{np.abs(ours - theirs).max() / np.abs(theirs).max():.1e}"
                if ours.shape == theirs.shape
                else f"shapes differ: ours {ours.shape}, inseq {theirs.shape}"
            )
            inseq_med = statistics.median(peer["seconds"])
            gl_med, ad_med = statistics.median(timings["gl"]), statistics.median(timings["adaptive"])
            rows.append(
                f"| {len(results['gl'].target_tokens)} | {median_range(peer['seconds'])} "
                f"| {median_range(timings['gl'])} | {median_range(timings['adaptive'])} "
                f"({results['adaptive'].n_steps} pts) | **{inseq_med / ad_med:.1f}×** / {inseq_med / gl_med:.1f}× "
                f"| {agree} |"
            )
            print(rows[-1], flush=True)
        table = "\n".join(
            [
                f"## Encoder-decoder IG: Tokenlight vs inseq 0.7.1 ({time.strftime('%Y-%m-%d')})",
                "",
                f"Marian-like model ({args.layers}+{args.layers} layers, d_model {args.d_model}, "
                f"{lm.parameters / 1e6:.1f}M parameters, random "
                f"weights), CPU float32, {args.threads} threads, source of "
                f"{sum(t.side == 'encoder' for t in results['gl'].source_tokens)} encoder tokens, T forced "
                f"targets, IG on the logit, UNK baseline, inseq at {args.n_steps} Gauss-Legendre points. Median "
                f"(min–max) of {args.repeats} runs after a warm-up on each side. {provenance()}",
                "",
                f"| T | inseq | Tokenlight, {args.n_steps} GL points | Tokenlight adaptive (default) "
                "| speed-up vs inseq: vs its default / at equal points | max diff of the encoder-side scores "
                f"vs inseq ({args.n_steps} points), ÷ largest |",
                "|---|---|---|---|---|---|",
                *rows,
            ]
        )
        write_section(args.output, "seq2seq", table)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
