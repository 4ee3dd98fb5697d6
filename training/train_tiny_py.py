"""Train the embedded default model ``tokenlight-tiny-py`` on the Python standard library.

The model ships in ``daemon/tokenlight/assets/tokenlight-tiny-py`` so that Tokenlight works offline
on a fresh machine. This script is how it was made, end to end and reproducibly:

    python training/train_tiny_py.py tokenizer   # byte-level BPE on the stdlib train split (~15 s)
    python training/train_tiny_py.py train --minutes 120   # resumable; checkpoints every few minutes
    python training/train_tiny_py.py export       # weights + tokenizer + model card into assets/

Data: every ``*.py`` file under this interpreter's standard library (site-packages excluded),
sorted by path. A file is held out for validation when ``sha1(relative path) % 100 < 3`` (fixed,
independent of the machine's file order). Training windows are drawn with a generator seeded by
``(seed, step)``, so a resumed run draws the same windows an uninterrupted one would.

Resuming: ``train`` writes ``RUN_DIR/checkpoint.pt`` (weights, optimizer, step, elapsed seconds)
atomically every ``--checkpoint-minutes``; running ``train`` again continues from it. The learning
rate follows a cosine over the *time* budget (``--minutes``, counted across resumes), because on a
shared CPU the tokens per second are not known in advance. Raising ``--minutes`` on a later run
stretches the schedule (a warm restart). RUN_DIR defaults to ``~/.cache/tokenlight/train-tiny-py``,
outside the work tree, so that it survives a fresh checkout on the same machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "daemon" / "tokenlight" / "assets" / "tokenlight-tiny-py"
DEFAULT_RUN_DIR = Path(os.environ.get("TOKENLIGHT_TRAIN_DIR", Path.home() / ".cache/tokenlight/train-tiny-py"))

SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>", "<|unk|>", "<|mask|>"]
VOCAB_SIZE = 8192
CONTEXT = 512
SEED = 1234
VALIDATION_PERCENT = 3

MODEL_SHAPE = {"n_layer": 4, "n_head": 8, "n_embd": 256}


# ----------------------------------------------------------------------------------------------
# data


def stdlib_files() -> list[tuple[str, Path]]:
    """(relative path, path) of every stdlib ``.py`` file that decodes as UTF-8, sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("site-packages/", "dist-packages/")):
            continue
        try:
            path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        files.append((rel, path))
    return files


def is_validation(rel: str) -> bool:
    return int(hashlib.sha1(rel.encode()).hexdigest(), 16) % 100 < VALIDATION_PERCENT


def split_files() -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    files = stdlib_files()
    train = [f for f in files if not is_validation(f[0])]
    val = [f for f in files if is_validation(f[0])]
    return train, val


def train_tokenizer(run_dir: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    train, _ = split_files()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # trim_offsets=False: a token's character span includes its leading space, so the spans of a
    # prompt's tokens tile the prompt exactly (what the editor colours and the offsets tests check).
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((p.read_text(encoding="utf-8") for _, p in train), trainer=trainer)
    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / "tokenizer.json"
    tok.save(str(out))
    print(f"tokenizer: {tok.get_vocab_size()} tokens from {len(train)} files -> {out}")
    return out


def load_hf_tokenizer(run_dir: Path):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(run_dir / "tokenizer.json"),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        unk_token="<|unk|>",
        mask_token="<|mask|>",
        model_max_length=CONTEXT,
    )


def encode_split(run_dir: Path, name: str, files: list[tuple[str, Path]]) -> np.ndarray:
    """One uint16 stream: each file is ``<|endoftext|>`` followed by its tokens (the BOS the
    engine prepends at inference time)."""
    cache = run_dir / f"{name}.u16"
    if cache.exists():
        return np.fromfile(cache, dtype=np.uint16)
    tok = load_hf_tokenizer(run_dir)
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    texts = [p.read_text(encoding="utf-8") for _, p in files]
    ids: list[int] = []
    for enc in tok(texts, add_special_tokens=False)["input_ids"]:
        ids.append(eos)
        ids.extend(enc)
    arr = np.asarray(ids, dtype=np.uint16)
    arr.tofile(cache)
    return arr


def token_byte_lengths(run_dir: Path) -> np.ndarray:
    """UTF-8 bytes each token id stands for (0 for special tokens), for bits per byte."""
    tok = load_hf_tokenizer(run_dir)
    byte_of_char = {c: b for b, c in _bytes_to_unicode().items()}
    lengths = np.zeros(len(tok), dtype=np.int64)
    special = set(tok.all_special_ids)
    for token, idx in tok.get_vocab().items():
        if idx not in special:
            lengths[idx] = len(token) if all(c in byte_of_char for c in token) else len(token.encode())
    return lengths


def _bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable character table of byte-level BPE: printable Latin-1 bytes map to
    themselves, the other 68 bytes to code points from 256 upwards, in byte order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


# ----------------------------------------------------------------------------------------------
# model


def build_model(vocab_size: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=CONTEXT,
        activation_function="gelu_pytorch_tanh",  # fused; measured ~20% faster, logits within 7e-6
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=1,
        tie_word_embeddings=True,
        **MODEL_SHAPE,
    )
    torch.manual_seed(SEED)
    return GPT2LMHeadModel(config)


@torch.no_grad()
def evaluate(model, stream: np.ndarray, byte_lengths: np.ndarray, max_tokens: int | None = None) -> dict:
    """Mean NLL over non-overlapping CONTEXT windows of ``stream`` (nats/token and bits/byte)."""
    model.eval()
    n = len(stream) if max_tokens is None else min(len(stream), max_tokens)
    total_nll = 0.0
    total_tokens = 0
    total_bytes = 0
    batch = []
    for start in range(0, n - 1, CONTEXT):
        window = stream[start : min(start + CONTEXT + 1, n)]
        if len(window) < 2:
            continue
        batch.append(torch.from_numpy(window.astype(np.int64)))
        if len(batch) == 8 or start + CONTEXT >= n - 1:
            for w in batch:
                x, y = w[:-1][None], w[1:][None]
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits = model(input_ids=x).logits
                nll = torch.nn.functional.cross_entropy(logits.float()[0], y[0], reduction="sum")
                total_nll += float(nll)
                total_tokens += y.numel()
                total_bytes += int(byte_lengths[y[0].numpy()].sum())
            batch = []
    model.train()
    nats = total_nll / max(total_tokens, 1)
    return {
        "nats_per_token": nats,
        "bits_per_byte": total_nll / math.log(2) / max(total_bytes, 1),
        "tokens": total_tokens,
        "bytes": total_bytes,
    }


def lr_at(elapsed_s: float, budget_s: float, peak: float, warmup_s: float = 120.0) -> float:
    if elapsed_s < warmup_s:
        return peak * max(elapsed_s, 1.0) / warmup_s
    frac = min((elapsed_s - warmup_s) / max(budget_s - warmup_s, 1.0), 1.0)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(args) -> None:
    run_dir: Path = args.run_dir
    torch.set_num_threads(args.threads)
    if not (run_dir / "tokenizer.json").exists():
        train_tokenizer(run_dir)
    train_files, val_files = split_files()
    train_stream = encode_split(run_dir, "train", train_files)
    val_stream = encode_split(run_dir, "val", val_files)
    byte_lengths = token_byte_lengths(run_dir)
    print(
        f"data: train {len(train_stream):,} tokens ({len(train_files)} files), "
        f"val {len(val_stream):,} tokens ({len(val_files)} files)",
        flush=True,
    )

    model = build_model(len(load_hf_tokenizer(run_dir)))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    ckpt_path = run_dir / "checkpoint.pt"
    step, elapsed, tokens_seen, log = 0, 0.0, 0, []
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, elapsed, tokens_seen = ckpt["step"], ckpt["elapsed_s"], ckpt["tokens_seen"]
        log = json.loads((run_dir / "log.json").read_text()) if (run_dir / "log.json").exists() else []
        print(f"resumed at step {step}, {elapsed / 60:.1f} min, {tokens_seen:,} tokens", flush=True)

    budget = args.minutes * 60.0
    train_t = torch.from_numpy(train_stream.astype(np.int64))
    last_ckpt = time.monotonic()
    last_eval = elapsed
    model.train()

    def checkpoint() -> None:
        save_atomic(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "elapsed_s": elapsed,
                "tokens_seen": tokens_seen,
            },
            ckpt_path,
        )
        (run_dir / "log.json").write_text(json.dumps(log, indent=1))

    while elapsed < budget:
        t0 = time.monotonic()
        g = torch.Generator().manual_seed(SEED * 1_000_003 + step)
        starts = torch.randint(0, len(train_t) - CONTEXT - 1, (args.batch,), generator=g)
        windows = torch.stack([train_t[s : s + CONTEXT + 1] for s in starts.tolist()])
        lr = lr_at(elapsed, budget, args.lr)
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=windows[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), windows[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += windows[:, 1:].numel()
        elapsed += time.monotonic() - t0
        if step % 20 == 0:
            print(
                f"step {step} {elapsed / 60:.1f} min lr {lr:.2e} loss {loss.item():.3f} "
                f"tok/s {windows[:, 1:].numel() / (time.monotonic() - t0):.0f}",
                flush=True,
            )
        if elapsed - last_eval >= args.eval_minutes * 60 or elapsed >= budget:
            last_eval = elapsed
            metrics = evaluate(model, val_stream, byte_lengths, max_tokens=args.eval_tokens)
            log.append(
                {
                    "step": step,
                    "minutes": elapsed / 60,
                    "tokens_seen": tokens_seen,
                    "train_loss": loss.item(),
                    **metrics,
                }
            )
            print(
                f"eval step {step}: {metrics['nats_per_token']:.3f} nats/token "
                f"{metrics['bits_per_byte']:.3f} bits/byte",
                flush=True,
            )
        if time.monotonic() - last_ckpt >= args.checkpoint_minutes * 60:
            checkpoint()
            last_ckpt = time.monotonic()
    checkpoint()
    print(f"done: step {step}, {elapsed / 60:.1f} min, {tokens_seen:,} tokens", flush=True)


# ----------------------------------------------------------------------------------------------
# export


SAMPLE_PROMPTS = ["def add(a, b):", "import os\n\n\ndef list_files(path):\n", "class Stack:\n    def __init__(self):"]


def export(args) -> None:
    run_dir: Path = args.run_dir
    torch.set_num_threads(args.threads)
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    tok = load_hf_tokenizer(run_dir)
    model = build_model(len(tok))
    model.load_state_dict(ckpt["model"])
    model.eval()
    _, val_files = split_files()
    val_stream = encode_split(run_dir, "val", val_files)
    metrics = evaluate(model, val_stream, token_byte_lengths(run_dir))

    samples = []
    for prompt in SAMPLE_PROMPTS:
        ids = [tok.bos_token_id, *tok(prompt, add_special_tokens=False)["input_ids"]]
        out = model.generate(
            torch.tensor([ids]),
            max_new_tokens=40,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
        samples.append((prompt, tok.decode(out[0, len(ids) :], skip_special_tokens=False)))

    ASSETS.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(ASSETS, safe_serialization=True)
    tok.save_pretrained(ASSETS)
    n_params = sum(p.numel() for p in model.parameters())
    log = json.loads((run_dir / "log.json").read_text()) if (run_dir / "log.json").exists() else []
    train_files, _ = split_files()
    info = {
        "parameters": n_params,
        "steps": ckpt["step"],
        "training_minutes": round(ckpt["elapsed_s"] / 60, 1),
        "tokens_seen": ckpt["tokens_seen"],
        "train_files": len(train_files),
        "validation_files": len(val_files),
        "python": sys.version.split()[0],
        "validation": metrics,
        "samples": [{"prompt": p, "continuation": c} for p, c in samples],
        "curve": log,
    }
    (ASSETS / "training.json").write_text(json.dumps(info, indent=1))
    (ASSETS / "README.md").write_text(_model_card(info))
    print(json.dumps({k: v for k, v in info.items() if k != "curve"}, indent=1))


def _model_card(info: dict) -> str:
    v = info["validation"]
    samples = "\n\n".join(
        f"Prompt:\n```python\n{s['prompt']}\n```\nGreedy continuation (40 tokens):\n```python\n{s['continuation']}\n```"
        for s in info["samples"]
    )
    curve = "\n".join(
        f"| {e['minutes']:.0f} | {e['tokens_seen'] / 1e6:.1f}M | {e['nats_per_token']:.3f} | {e['bits_per_byte']:.3f} |"
        for e in info["curve"]
    )
    return f"""# tokenlight-tiny-py

The embedded default model of Tokenlight: a tiny GPT-2-style causal language model of Python code,
shipped so that Tokenlight works offline on a fresh machine. **It is a toy.** It knows the shape of
Python source and little else; point `tokenlight.model` (or `--model`) at a real model for real use.

| | |
|---|---|
| architecture | GPT-2 (`GPT2LMHeadModel`), {MODEL_SHAPE["n_layer"]} layers, d={MODEL_SHAPE["n_embd"]}, {MODEL_SHAPE["n_head"]} heads, GELU (tanh), tied embeddings |
| parameters | {info["parameters"]:,} (float32 safetensors) |
| context | {CONTEXT} tokens |
| tokenizer | byte-level BPE, {VOCAB_SIZE:,} tokens, specials {", ".join(SPECIAL_TOKENS)} (`<|endoftext|>` is BOS and EOS) |
| data | the `*.py` files of the CPython {info["python"]} standard library: {info["train_files"]} files for training, {info["validation_files"]} held out (sha1(path) % 100 < {VALIDATION_PERCENT}) |
| training | {info["steps"]:,} steps, {info["tokens_seen"] / 1e6:.1f}M tokens, {info["training_minutes"]} minutes on 2 CPU cores (bf16 autocast, fp32 weights), AdamW, cosine over the time budget |
| validation loss | **{v["nats_per_token"]:.3f} nats/token, {v["bits_per_byte"]:.3f} bits/byte** on {v["tokens"]:,} held-out tokens ({v["bytes"]:,} bytes) |

Made by `training/train_tiny_py.py` (tokenizer, train, export); see that file to reproduce or resume.

## Validation curve (subset of the held-out files during training)

| minutes | tokens seen | nats/token | bits/byte |
|---|---|---|---|
{curve}

## Samples (greedy)

{samples}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["tokenizer", "train", "export"])
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--minutes", type=float, default=120.0, help="training time budget (all runs)")
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-minutes", type=float, default=10.0)
    parser.add_argument("--eval-tokens", type=int, default=65_536)
    parser.add_argument("--checkpoint-minutes", type=float, default=4.0)
    args = parser.parse_args(argv)
    if args.command == "tokenizer":
        train_tokenizer(args.run_dir)
    elif args.command == "train":
        train(args)
    else:
        export(args)


if __name__ == "__main__":
    main()
