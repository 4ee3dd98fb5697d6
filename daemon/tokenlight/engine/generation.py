"""Generating the continuation to attribute: greedy by default, seeded when sampling.

One place for the transformers ``GenerationConfig`` built from the options, shared by decoder-only
models (``problem.py``) and encoder-decoder models (``seq2seq.py``).
"""

from __future__ import annotations

from typing import Any

import torch

from .seeding import seeded


def generate(
    lm: Any,
    input_ids: list[int],
    options: dict[str, Any],
    *,
    skip: int | None = None,
    decoder_start_id: int | None = None,
) -> list[int]:
    """Greedy (default, deterministic) or seeded sampling; stops after EOS, which is kept.

    Args:
        lm (LoadedModel): the model and its tokenizer.
        input_ids (list[int]): the prompt (a decoder-only model) or the encoder input.
        options (dict): resolved options (``max_new_tokens``, ``sample``, ``temperature``, ``top_k``,
            ``top_p``, ``seed``).
        skip (int, optional): leading output tokens that are not generated ones. Default: the
            prompt's length (a decoder-only model's output repeats its prompt).
        decoder_start_id (int, optional): an encoder-decoder model's decoder start token.

    Returns:
        The generated token ids.
    """
    from transformers import GenerationConfig

    tok = lm.tokenizer
    sample = options["sample"]
    extra = {} if decoder_start_id is None else {"decoder_start_token_id": decoder_start_id}
    config = GenerationConfig(  # type: ignore[no-untyped-call]  # transformers leaves __init__ unannotated
        max_new_tokens=options["max_new_tokens"],
        do_sample=sample,
        temperature=options["temperature"] if sample else None,
        top_k=options["top_k"] if sample else None,
        top_p=options["top_p"] if sample else None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        **extra,
    )
    ids = torch.tensor([input_ids], device=lm.device)
    with seeded(options["seed"], lm.device), torch.no_grad():
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
    generated: list[int] = out[0, len(input_ids) if skip is None else skip :].tolist()
    return generated
