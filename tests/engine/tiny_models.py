"""The geometry of the tiny random decoder models the engine tests build from configs."""

from __future__ import annotations

from typing import Any

import torch

TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "max_position_embeddings": 128,
    # untied: tests change the input embedding (or its placement) without touching the LM head
    "tie_word_embeddings": False,
}


def tiny_decoder(config_cls: Any, model_cls: Any, tokenizer: Any, **overrides: Any) -> torch.nn.Module:
    """A 2-layer, 32-wide ``model_cls`` with random weights (seed 0) for the embedded tokenizer."""
    config = config_cls(vocab_size=len(tokenizer), **{**TINY, **overrides})
    torch.manual_seed(0)
    return model_cls(config).eval()
