"""Runs inseq 0.7.1 on the embedded model; executed by bench_peers.py inside the peers' own venv.

Reads a JSON job from argv[1] ({model_path, prompt, cases: [{targets, text}], n_steps,
internal_batch_size (optional: path points per forward, default all n_steps), repeats,
threads, warmup_text}) and writes timings, peak memory and the attribution matrices to argv[2].
Before measuring it runs the warm-up bench_peers.py runs on Tokenlight's side (the same IG call on
``warmup_text``), so that both sides are measured warm. The prompt starts with the BOS
token spelled out (``<|endoftext|>``), so that inseq, which adds no BOS for decoder-only models,
attributes exactly the token ids Tokenlight does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from measure import measure


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(job["threads"])
    import inseq
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(job["model_path"])
    hf_model = AutoModelForCausalLM.from_pretrained(job["model_path"])
    model = inseq.load_model(hf_model, "integrated_gradients", tokenizer=tokenizer)

    def run(text: str):
        return model.attribute(
            job["prompt"],
            generated_texts=job["prompt"] + text,
            n_steps=job["n_steps"],
            internal_batch_size=job.get("internal_batch_size") or job["n_steps"],
            attributed_fn="logit",
            include_eos_baseline=True,  # UNK at every position, BOS included: Tokenlight's "unk"
            show_progress=False,
        )

    run(job["warmup_text"])
    results = []
    for case in job["cases"]:
        runs, memory, matrix = [], [], None
        for _ in range(job["repeats"]):
            out, seconds, peak = measure(lambda case=case: run(case["text"]))
            runs.append(seconds)
            memory.append(peak)
            # [positions, targets, hidden] -> [targets, positions]
            matrix = out.sequence_attributions[0].target_attributions.sum(-1).T
        results.append(
            {
                "targets": case["targets"],
                "seconds": runs,
                "peak_bytes": memory,
                "scores": torch.nan_to_num(matrix.float(), nan=float("nan")).tolist(),
            }
        )
    Path(sys.argv[2]).write_text(json.dumps({"inseq": inseq.__name__, "results": results}))


if __name__ == "__main__":
    main()
