"""The runner hands memory housekeeping to the loaded model (in-process: no GPU can be asked for)."""

from __future__ import annotations

import weakref

import pytest

from tokenlight.cache import ResultCache
from tokenlight.server.jobs import ModelRequest
from tokenlight.server.runner import Runner, process_rss


@pytest.fixture
def runner_with_model(tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    from tokenlight.engine import from_objects

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=16, n_layer=1, n_head=2)
    lm = from_objects(GPT2LMHeadModel(config), tokenizer, name="fresh")
    runner = Runner(ResultCache(max_bytes=0))
    runner.lm, runner.loaded, runner.info = lm, ModelRequest(None), None
    return runner, lm


def test_unload_frees_the_weights_even_where_the_model_object_is_still_referenced(runner_with_model):
    runner, lm = runner_with_model  # `lm` stays referenced here, as a finished job's closure may hold it
    weights = weakref.ref(lm.model)
    runner.unload()
    assert runner.lm is None and runner.loaded is None
    assert weights() is None


def test_memory_off_cuda_is_the_process_resident_memory(runner_with_model):
    runner, _ = runner_with_model
    rss = process_rss()
    assert rss is not None and rss > 0
    assert runner.memory_bytes() == pytest.approx(rss, rel=0.05)
