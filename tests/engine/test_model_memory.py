"""A loaded model's own memory housekeeping: what it holds on the GPU, and letting it go."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch


def _fresh_gpt2(tokenizer, device: str = "cpu"):
    """A model of our own (release() makes it unusable: never the session's shared fixtures)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from tokenlight.engine import from_objects

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=16, n_layer=1, n_head=2)
    return from_objects(GPT2LMHeadModel(config).to(device), tokenizer, name="fresh")


def test_release_frees_the_weights_while_the_model_object_is_still_held(tokenizer):
    lm = _fresh_gpt2(tokenizer)
    weights = weakref.ref(lm.model)
    lm.release()
    gc.collect()
    assert lm.model is None
    assert weights() is None


def test_memory_off_cuda_is_not_the_models_to_say(tokenizer):
    assert _fresh_gpt2(tokenizer).memory_bytes() is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_memory_is_what_torch_allocated_and_release_gives_it_back(tokenizer):
    lm = _fresh_gpt2(tokenizer, "cuda")
    weight_bytes = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    before = torch.cuda.memory_allocated(lm.device)
    assert lm.memory_bytes() == before
    assert before >= weight_bytes
    lm.release()
    assert torch.cuda.memory_allocated(lm.device) <= before - weight_bytes
