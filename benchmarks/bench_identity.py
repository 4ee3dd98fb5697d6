"""What the model identity (the results cache's model key) costs when loading a large model.

Writes a random GPT-2-style model of a few hundred MB (safetensors, sharded) to a temporary folder,
then times, median of a few runs: the whole ``load_model``; the folder fingerprint it takes (twice:
before and after reading the weights); the identity itself (computed on the first attribution); the
staleness check each request makes (``files_changed``); and, for comparison, a full sha256 of every
parameter (what an in-memory model gets, and what a folder-loaded one would cost if it were hashed).

    python benchmarks/bench_identity.py     # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from measure import results_table, write_section  # noqa: E402
from tokenlight import load_model  # noqa: E402
from tokenlight.engine.identity import folder_fingerprint, model_identity, tensors_digest  # noqa: E402


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """Median and all wall times of ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def write_model(folder: Path, width: int, layers: int, shard: str) -> int:
    """A random GPT-2 with the embedded tokenizer, saved as safetensors shards; its weight bytes."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = load_model(device="cpu", dtype="float32").tokenizer
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=width, n_layer=layers, n_head=16)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder, max_shard_size=shard)
    tokenizer.save_pretrained(folder)
    return sum(f.stat().st_size for f in folder.glob("*.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--shard", default="100MB", help="max_shard_size for save_pretrained")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="tokenlight-bench-identity-") as tmp:
        folder = Path(tmp) / "model"
        size = write_model(folder, args.width, args.layers, args.shard)
        gb = size / 1e9
        shards = len(list(folder.glob("*.safetensors")))
        print(f"model: {size / 1e6:.0f} MB in {shards} safetensors files", flush=True)
        load_s, load_all = timed(lambda: load_model(str(folder), device="cpu", dtype="float32"), args.repeats)
        lm = load_model(str(folder), device="cpu", dtype="float32")
        fingerprint_s, _ = timed(lambda: folder_fingerprint(folder), args.repeats)
        identity_s, _ = timed(lambda: model_identity(lm), args.repeats)
        stale_s, _ = timed(lm.files_changed, args.repeats)
        full_s, _ = timed(lambda: tensors_digest(lm.model), args.repeats)
    added = 2 * fingerprint_s + identity_s
    rows = [
        f"| load_model (whole) | {load_s:.2f} s ({min(load_all):.2f}–{max(load_all):.2f}) | {load_s / gb:.2f} s |",
        f"| folder fingerprint (taken twice per load) | {fingerprint_s * 1000:.1f} ms | "
        f"{fingerprint_s * 1000 / gb:.1f} ms |",
        f"| identity (config, tokenizer JSON, versions, fingerprint) | {identity_s * 1000:.1f} ms | "
        f"{identity_s * 1000 / gb:.1f} ms |",
        f"| staleness check per request (`files_changed`) | {stale_s * 1000:.1f} ms | {stale_s * 1000 / gb:.1f} ms |",
        f"| **added to a load** (2 fingerprints + identity) | **{added * 1000:.1f} ms** | "
        f"**{added * 1000 / gb:.1f} ms** |",
        f"| for comparison: sha256 of every parameter | {full_s:.2f} s | {full_s / gb:.2f} s |",
    ]
    for row in rows:
        print(row, flush=True)
    table = results_table(
        "Cost of the model identity (results-cache key)",
        f"Random GPT-2 ({args.width} wide, {args.layers} layers, embedded tokenizer), {size / 1e6:.0f} MB of float32 "
        f"weights in {shards} safetensors files on local disk (read from the page cache after the first load), "
        f"CPU, 2 threads; median of {args.repeats} runs on a shared machine (noisy).",
        ["step", "time", "per GB of weights"],
        rows,
        "A folder-loaded model's weights enter its identity through the files' size, timestamps, inode and "
        "safetensors header (no data read), so the cost grows with the number of files, not their size; "
        "hashing every weight, the last row, grows with the size.",
    )
    write_section(args.output, "identity", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
