"""Shared fixtures: the shipped embedded model and tiny random models built from configs.

No network, no GPU, no training: everything here loads from the repository or is built in memory.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def lm():
    """The embedded default model, loaded once per session on CPU in float32."""
    from tokenlight import load_model

    return load_model(device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tokenizer(lm):
    return lm.tokenizer


def _tiny_gpt2_config(tokenizer, **overrides):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        pad_token_id=tokenizer.pad_token_id,
        **overrides,
    )


@pytest.fixture(scope="session")
def linear_lm(tokenizer):
    """A model whose logits are linear in the embeddings (tests/linear_models.py): exact answers."""
    from linear_models import LinearCausalLM
    from tokenlight.engine import from_objects

    return from_objects(LinearCausalLM(len(tokenizer), 16), tokenizer, name="linear")


@pytest.fixture(scope="session")
def tiny_gpt2(tokenizer):
    """A 2-layer, 32-wide GPT-2 with random weights and the embedded tokenizer."""
    from transformers import GPT2LMHeadModel

    from tokenlight.engine import from_objects

    torch.manual_seed(0)
    config = _tiny_gpt2_config(tokenizer, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    return from_objects(GPT2LMHeadModel(config), tokenizer, name="tiny-gpt2")


@pytest.fixture(scope="session")
def tiny_classifier(tokenizer):
    """A 2-layer GPT-2 sequence classifier with three named classes."""
    from transformers import GPT2ForSequenceClassification

    from tokenlight.engine import from_objects

    torch.manual_seed(1)
    labels = {0: "neg", 1: "neu", 2: "pos"}
    config = _tiny_gpt2_config(tokenizer, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    return from_objects(GPT2ForSequenceClassification(config), tokenizer, name="tiny-classifier")
