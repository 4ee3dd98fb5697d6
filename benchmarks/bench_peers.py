"""Tokenlight against the peers: inseq 0.7.1 and captum's LLMGradientAttribution.

Same model (the embedded tokenlight-tiny-py), same prompt, same T forced targets, Integrated
Gradients on the logit with an UNK baseline at every position. inseq runs in its own throwaway
virtualenv (``benchmarks/.peers/``, pinned versions, created on first use), all its runs in one
process; Tokenlight and captum run interleaved in this process. For each T we report the median and
min–max of ``--repeats`` runs, the peak extra memory, two speed-ups (vs the peer at its default
points, and at equal points), and whether the attributions agree:

* Tokenlight with 50 Gauss-Legendre points vs inseq (50 points): the same computation, so the scores
  must agree to float rounding;
* Tokenlight adaptive (the default) vs inseq: within 1e-3 of the largest |attribution|, with every
  |delta| ≤ 1e-3·|f(x) − f(x′)| — the "equal accuracy" of the speed claim.

captum's LLMGradientAttribution attributes log-probabilities to prompt tokens only (not to earlier
generated tokens), so only its time is comparable.

``--geometry gpt2-small`` (or ``llama-300m``) runs the same comparison at a real model size (issue 19,
goal 1): the model is built from its config with random weights (seed 0, ``geometries.py``), saved to
a temporary folder for inseq's process, and given a ``--prompt-tokens``-token Python prompt and the
forced targets of ``bench_adaptive_rule.py``; its section is ``peers-<geometry>``. Memory probes
(a fresh process per system) and captum are skipped there unless asked for: each call takes minutes.

    python benchmarks/bench_peers.py      # make bench; writes its section of benchmarks/RESULTS.md
    python benchmarks/bench_peers.py --geometry gpt2-small --prompt-tokens 75 --targets 12 --repeats 3
    python benchmarks/bench_peers.py --geometry llama-300m --prompt-tokens 256 --targets 8 --peer-batch 10 \
        --no-fixed --repeats 1   # inseq's 50 points at once would need ~40 GB of activations here
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from measure import load_note, measure, median_range, provenance, write_section  # noqa: E402
from tokenlight import attribute, load_model  # noqa: E402
from tokenlight.engine.models import EMBEDDED_MODEL_PATH  # noqa: E402

PEER_DIR = HERE / ".peers"
# inseq 0.7.1 declares CUDA 11 wheels (gigabytes) and security-pin bumps it never imports as hard
# dependencies; we install it without them, plus the four packages it really imports. torch,
# transformers and captum come from Tokenlight's own environment (same pinned versions) via a .pth.
PEER_PACKAGES = ["inseq==0.7.1", "typeguard==2.13.3", "jaxtyping==0.3.11", "wadler_lindig==0.1.8", "treescope==0.1.10"]
PROMPT = '<|endoftext|>def mean(values):\n    """Return the arithmetic mean of values."""\n    return'
# Before anything is measured, each side (Tokenlight here, inseq in its process) runs the same
# warm-up: IG at the benchmark's points on this one-token target, so that lazy initialisation, kernel
# selection and allocator pools are paid outside the measured calls on both sides alike.
WARMUP_TEXT = " x"


def peer_python() -> Path:
    venv = PEER_DIR / "venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == " ".join(PEER_PACKAGES):
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "tokenlight_base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *PEER_PACKAGES], check=True)
    stamp.write_text(" ".join(PEER_PACKAGES))
    return python


def run_inseq(
    cases: list[dict], args: argparse.Namespace, model_path: Path = EMBEDDED_MODEL_PATH, prompt: str = PROMPT
) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp, "job.json"), Path(tmp, "out.json")
        job.write_text(
            json.dumps(
                {
                    "model_path": str(model_path),
                    "prompt": prompt,
                    "cases": cases,
                    "n_steps": args.n_steps,
                    "internal_batch_size": args.peer_batch,
                    "repeats": args.repeats,
                    "threads": args.threads,
                    "warmup_text": WARMUP_TEXT,
                }
            )
        )
        subprocess.run([str(peer_python()), str(HERE / "peer_inseq.py"), str(job), str(out)], check=True)
        return json.loads(out.read_text())["results"]


def warm_up(lm, prompt: str, n_steps: int, compiled: bool = False) -> None:
    """Tokenlight's side of the warm-up (see WARMUP_TEXT; peer_inseq.py runs inseq's). With
    ``compiled``, also the adaptive call with ``compile_layers`` at two target lengths: the first
    compiles, the second makes dynamo mark the length (and the adaptive levels' point counts)
    dynamic, so that the measured calls reuse those graphs instead of compiling again."""
    attribute(lm, prompt, target_text=WARMUP_TEXT, baseline="unk", n_steps=n_steps)
    if compiled:
        for text in (WARMUP_TEXT, WARMUP_TEXT * 2):
            attribute(lm, prompt, target_text=text, baseline="unk", compile_layers=True)


def captum_llm(lm, text: str, n_steps: int, prompt: str = PROMPT):
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    lig = LayerIntegratedGradients(lm.model, lm.embedding)
    llm = LLMGradientAttribution(lig, lm.tokenizer)
    inp = TextTokenInput(prompt, lm.tokenizer, baselines=lm.tokenizer.unk_token_id)
    return llm.attribute(inp, target=text, n_steps=n_steps, internal_batch_size=n_steps)


SYSTEMS = ("gl50", "adaptive", "compiled", "captum")
# the two speed-ups answer two questions: what a user gets (Tokenlight's adaptive default against the
# peer at its default points) and what the kernel alone gives (both at the same points)
RATIOS = "speed-up vs {peer}: vs its default (what a user gets) / at equal points (the kernel alone)"


def run_system(lm, prompt: str, text: str, system: str, n_steps: int):
    if system == "gl50":
        return attribute(lm, prompt, target_text=text, baseline="unk", n_steps=n_steps)
    if system == "adaptive":
        return attribute(lm, prompt, target_text=text, baseline="unk")
    if system == "compiled":
        res = attribute(lm, prompt, target_text=text, baseline="unk", compile_layers=True)
        assert any("ran compiled" in note for note in res.notes), res.notes  # not a silent eager run
        return res
    return captum_llm(lm, text, n_steps, lm.tokenizer.bos_token + prompt)


def probe_memory(system: str, case: dict, args: argparse.Namespace) -> int:
    """Peak extra memory of one call, in a fresh process: in a long-lived one, memory freed by
    earlier calls is reused and hides what a call needs."""
    if system == "inseq":
        one = argparse.Namespace(**{**vars(args), "repeats": 1})
        return run_inseq([case], one)[0]["peak_bytes"][0]
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--probe",
            system,
            "--probe-text",
            case["text"],
            "--n-steps",
            str(args.n_steps),
            "--threads",
            str(args.threads),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.strip().splitlines()[-1])


def _probe(args: argparse.Namespace) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    lm = load_model(device="cpu", dtype="float32")
    prompt = PROMPT.removeprefix(lm.tokenizer.bos_token)
    warm_up(lm, prompt, args.n_steps, compiled=args.probe == "compiled")
    _, _, peak = measure(lambda: run_system(lm, prompt, args.probe_text, args.probe, args.n_steps))
    print(peak)


def _mib(memory: dict[str, list[int]], name: str) -> str:
    return f", {max(memory[name]) / 2**20:.0f} MiB" if name in memory else ""


def _figure(value: float, spec: str = ".1e") -> str:
    """``value`` formatted, or "—" for a side that was not run (nan)."""
    return "—" if np.isnan(value) else format(value, spec)


def _ratio(theirs: float, ours: float) -> str:
    return "—" if np.isnan(theirs) or np.isnan(ours) else f"{theirs / ours:.1f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--geometry", choices=("embedded", "gpt2-small", "llama-300m"), default="embedded")
    parser.add_argument("--prompt-tokens", type=int, default=75, help="with --geometry: the prompt's length")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, help="probe memory (default: embedded only)")
    parser.add_argument("--captum", action=argparse.BooleanOptionalAction, help="run captum (default: embedded only)")
    parser.add_argument(
        "--peer-batch",
        type=int,
        help="inseq's internal_batch_size (default: all points in one pass; at llama-300m and 256 tokens "
        "that needs ~40 GB, so give 10); speed and memory only",
    )
    parser.add_argument(
        "--no-fixed", action="store_true", help="skip Tokenlight at the peers' points (no equal-points ratio)"
    )
    parser.add_argument(
        "--compile-layers",
        action="store_true",
        help="also Tokenlight adaptive with compile_layers (compiled during the warm-up, not in the measured calls)",
    )
    parser.add_argument("--probe", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--probe-text", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        _probe(args)
        return
    load = os.getloadavg()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    embedded = args.geometry == "embedded"
    with_memory = embedded if args.memory is None else args.memory
    skipped = {"captum"} if not (embedded if args.captum is None else args.captum) else set()
    skipped |= {"gl50"} if args.no_fixed else set()
    skipped |= set() if args.compile_layers else {"compiled"}
    systems = tuple(name for name in SYSTEMS if name not in skipped)
    with tempfile.TemporaryDirectory() as saved:
        if embedded:
            lm = load_model(device="cpu", dtype="float32")
            prompt = PROMPT.removeprefix(lm.tokenizer.bos_token)  # Tokenlight adds the BOS itself
            generated = attribute(lm, prompt, max_new_tokens=max(args.targets), method="saliency").target_tokens
            model_path, description = EMBEDDED_MODEL_PATH, f"Embedded model {lm.name}"
        else:
            from bench_adaptive_rule import TARGET
            from geometries import case

            lm, prompt = case(
                args.geometry, args.prompt_tokens, max_positions=max(1024, args.prompt_tokens + max(args.targets) + 8)
            )
            torch.set_num_threads(args.threads)  # case() sets the 2 its own scripts use
            lm.model.save_pretrained(saved)  # the same random weights for inseq's process
            lm.tokenizer.save_pretrained(saved)
            generated = attribute(
                lm, prompt, target_text=TARGET, max_target_tokens=max(args.targets), method="saliency"
            ).target_tokens
            model_path, description = Path(saved), f"{args.geometry} geometry (random weights, built from its config)"
        cases = [{"targets": t, "text": "".join(tok.text for tok in generated[:t])} for t in args.targets]
        warm_up(lm, prompt, args.n_steps, compiled=args.compile_layers)
        peers = {r["targets"]: r for r in run_inseq(cases, args, model_path, lm.tokenizer.bos_token + prompt)}
    rows, curve = [], []
    for case in cases:
        n_targets, text = case["targets"], case["text"]
        timings: dict[str, list[float]] = {name: [] for name in systems}
        results = {}
        for _ in range(args.repeats):  # interleaved, so that outside load hits every system alike
            for name in systems:
                results[name], seconds, _ = measure(
                    lambda text=text, name=name: run_system(lm, prompt, text, name, args.n_steps)
                )
                timings[name].append(seconds)
        fixed, adaptive = results.get("gl50"), results["adaptive"]
        memory = {name: [probe_memory(name, case, args)] for name in (*systems, "inseq")} if with_memory else {}
        peer = peers[n_targets]
        theirs = np.asarray(peer["scores"], dtype=np.float64)  # [T, S+T]
        n_src = len(adaptive.source_tokens)
        mask = np.zeros_like(theirs, dtype=bool)
        for t in range(n_targets):
            mask[t, : n_src + t] = True
        scale = np.abs(theirs[mask]).max()
        same_err = (
            np.abs(fixed.scores[:, : theirs.shape[1]][mask] - theirs[mask]).max() / scale if fixed else float("nan")
        )
        adaptive_err = np.abs(adaptive.scores[:, : theirs.shape[1]][mask] - theirs[mask]).max() / scale
        change = np.abs(adaptive.target_scores.astype(np.float64) - adaptive.baseline_scores)
        worst_delta = float((np.abs(adaptive.deltas) / change).max())
        inseq_med = statistics.median(peer["seconds"])
        captum_med = statistics.median(timings["captum"]) if "captum" in timings else float("nan")
        gl50_med = statistics.median(timings["gl50"]) if "gl50" in timings else float("nan")
        ours_med = statistics.median(timings["adaptive"])
        if "compiled" in timings:
            compiled = results["compiled"]
            compiled_err = np.abs(compiled.scores[:, : theirs.shape[1]][mask] - theirs[mask]).max() / scale
            compiled_cell = (
                f"{median_range(timings['compiled'])}{_mib(memory, 'compiled')}: "
                f"{_ratio(inseq_med, statistics.median(timings['compiled']))} vs inseq, {compiled_err:.1e}"
            )
        else:
            compiled_cell = "not run"
        curve.append((n_targets, inseq_med, captum_med, gl50_med, ours_med))
        rows.append(
            f"| {n_targets} | {median_range(peer['seconds'])}{_mib(memory, 'inseq')} "
            f"| {median_range(timings['captum']) if 'captum' in timings else 'not run'}{_mib(memory, 'captum')} "
            f"| {median_range(timings['gl50']) if 'gl50' in timings else 'not run'}{_mib(memory, 'gl50')} "
            f"| {median_range(timings['adaptive'])} ({adaptive.n_steps} pts){_mib(memory, 'adaptive')} "
            f"| {compiled_cell} "
            f"| **{_ratio(inseq_med, ours_med)}** / {_ratio(inseq_med, gl50_med)} "
            f"| {_ratio(captum_med, ours_med)} / {_ratio(captum_med, gl50_med)} "
            f"| {_figure(same_err)} / {_figure(adaptive_err)} | {worst_delta:.1e} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(
        [
            f"## Tokenlight vs inseq 0.7.1 and captum 0.9 LLMGradientAttribution ({time.strftime('%Y-%m-%d')})",
            "",
            f"{description} ({lm.parameters / 1e6:.1f}M parameters), CPU float32, {args.threads} threads, "
            f"prompt of {len(adaptive.source_tokens)} tokens (BOS included), T forced targets, IG on the logit, UNK "
            f"baseline, peers at {args.n_steps} Gauss-Legendre points "
            f"(inseq {args.peer_batch or args.n_steps} per pass). "
            f"Median (min–max) of {args.repeats} runs; "
            + (
                "the compile_layers side compiled in its warm-up (two target lengths), not in the measured calls; "
                if "compiled" in systems
                else ""
            )
            + (
                "memory = peak resident memory above the level before the call, measured for each system and T in a "
                "fresh process after a warm-up. "
                if with_memory
                else "memory not probed. "
            )
            + f"{load_note(load, os.getloadavg())} "
            f"{provenance('bench')}",
            "",
            "| T | inseq | captum LLMGradientAttribution | Tokenlight, 50 GL points | Tokenlight adaptive (default) "
            "| Tokenlight adaptive, compile_layers (speed-up vs inseq's default, max diff vs inseq ÷ largest) "
            f"| {RATIOS.format(peer='inseq')} | {RATIOS.format(peer='captum')} "
            "| max diff vs inseq (GL50 / adaptive), ÷ largest | worst \\|delta\\| ÷ "
            "\\|f(x)−f(x′)\\| |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Growth with T (median seconds): "
            + "; ".join(
                f"T={t}: inseq {a:.2f}, captum {_figure(b, '.2f')}, GL50 {_figure(c, '.2f')}, adaptive {d:.2f}"
                for t, a, b, c, d in curve
            )
            + ".",
        ]
    )
    write_section(args.output, "peers" if embedded else f"peers-{args.geometry}", table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
