"""Real model geometries built from configs with random weights (nothing is downloaded), and prompts
of a chosen token length, shared by the issue-19 benchmark scripts.

* ``gpt2-small``: 12 layers × 768, 12 heads, GPT-2's learned positions and LayerNorm (92M with
  the embedded tokenizer's 8,192 vocabulary);
* ``llama-300m``: rotary, RMSNorm, grouped-query attention (16 heads, 4 KV heads), 24 layers ×
  1024, SwiGLU 2816 (~330M);
* ``llama-1b``: 16 layers × 2048, 32 heads / 8 KV heads, SwiGLU 8192 (~1.1B) — for a GPU;
* ``wide-llama``: the long-context case, 2 layers × 768 (12 heads, 4 KV heads), SwiGLU 2048:
  tiny in depth, wide enough that activations, not weights, decide the memory.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

# goal 1's setting (issue 19), the default of the scripts that measure one geometry
DEFAULT_MODEL, DEFAULT_PROMPT_TOKENS, DEFAULT_TARGETS = "gpt2-small", 75, 12

CODE = (
    "def mean(values):\n"
    '    """Return the arithmetic mean of values."""\n'
    "    total = 0\n"
    "    for value in values:\n"
    "        total += value\n"
    "    return total / len(values)\n\n"
)


def build(name: str, tokenizer: Any, *, max_positions: int = 8448, dtype: torch.dtype = torch.float32) -> Any:
    """The model ``name`` (see the module docstring), eval mode, seed 0."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    vocab = len(tokenizer)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    if name == "gpt2-small":
        config = GPT2Config(
            vocab_size=vocab, n_positions=max(1024, max_positions), n_embd=768, n_layer=12, n_head=12, **ids
        )
        return GPT2LMHeadModel(config).to(dtype).eval()
    shapes = {
        "llama-300m": {
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
            "intermediate_size": 2816,
        },
        "llama-1b": {
            "hidden_size": 2048,
            "num_hidden_layers": 16,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "intermediate_size": 8192,
        },
        "wide-llama": {
            "hidden_size": 768,
            "num_hidden_layers": 2,
            "num_attention_heads": 12,
            "num_key_value_heads": 4,
            "intermediate_size": 2048,
        },
    }[name]
    config = LlamaConfig(
        vocab_size=vocab, max_position_embeddings=max_positions, tie_word_embeddings=False, **shapes, **ids
    )
    return LlamaForCausalLM(config).to(dtype).eval()


def add_case_arguments(parser: argparse.ArgumentParser, *, points: int | None = None) -> None:
    """``--model``, ``--prompt-tokens`` and ``--targets`` (goal 1's setting by default) and, given a
    default ``points``, ``--points`` (fixed Gauss-Legendre points)."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help="gpt2-small, llama-300m, llama-1b or wide-llama")
    parser.add_argument("--prompt-tokens", type=int, default=DEFAULT_PROMPT_TOKENS)
    parser.add_argument("--targets", type=int, default=DEFAULT_TARGETS)
    if points is not None:
        parser.add_argument("--points", type=int, default=points)


def case(name: str, n_prompt_tokens: int, *, max_positions: int = 1024) -> tuple[Any, str]:
    """The model ``name`` loaded for Tokenlight with the embedded tokenizer, and a Python prompt of
    ``n_prompt_tokens`` tokens: the set-up of the scripts that measure one real geometry on the CPU
    (2 threads, transformers' warnings off)."""
    from transformers.utils import logging as hf_logging

    from tokenlight import load_model
    from tokenlight.engine import from_objects

    torch.set_num_threads(2)
    hf_logging.set_verbosity_error()
    tokenizer = load_model().tokenizer
    lm = from_objects(build(name, tokenizer, max_positions=max_positions), tokenizer, name=name)
    return lm, prompt_of(tokenizer, n_prompt_tokens)


def prompt_of(tokenizer: Any, n_tokens: int) -> str:
    """Python source cut to the longest prefix of at most ``n_tokens`` tokens (BOS included)."""
    text = CODE * (n_tokens // 20 + 2)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: n_tokens - 1]
    return tokenizer.decode(ids)


def parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
