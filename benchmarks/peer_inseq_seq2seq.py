"""Runs inseq 0.7.1 on an encoder-decoder model; executed by bench_seq2seq.py in the peer's venv.

Reads a JSON job from argv[1] ({model_path, source, cases: [{targets, text}], n_steps, repeats,
threads, warmup_text}) and writes timings and the source-side attribution matrices to argv[2].
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
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(job["model_path"])
    hf_model = AutoModelForSeq2SeqLM.from_pretrained(job["model_path"])
    model = inseq.load_model(hf_model, "integrated_gradients", tokenizer=tokenizer)

    def run(text: str):
        return model.attribute(
            job["source"],
            generated_texts=text,
            n_steps=job["n_steps"],
            internal_batch_size=job["n_steps"],
            attributed_fn="logit",
            include_eos_baseline=True,  # UNK at every position, special tokens included: Tokenlight's "unk"
            show_progress=False,
        )

    run(job["warmup_text"])
    results = []
    for case in job["cases"]:
        runs, matrix = [], None
        for _ in range(job["repeats"]):
            out, seconds, _ = measure(lambda case=case: run(case["text"]))
            runs.append(seconds)
            attr = out.sequence_attributions[0]
            matrix = attr.source_attributions.sum(-1).T  # [T, S_enc]
        results.append({"targets": case["targets"], "seconds": runs, "source_scores": matrix.float().tolist()})
    Path(sys.argv[2]).write_text(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
