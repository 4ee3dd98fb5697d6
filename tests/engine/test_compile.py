"""compile_layers: the decoder layers run under torch.compile and the scores stay eager's.

Over the whole registry: a gradient-path method runs compiled and gives eager's scores within float
rounding; any other method runs eager, unchanged, and the result says so. A compilation that fails
falls back to eager with the reason in the result and is not tried again on that model; compilation
composes with recomputation under a memory budget; and nothing of it outlives the call (the layers'
forwards and torch's donated-buffer flag are restored).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from registry_options import fast_options

from tokenlight import attribute
from tokenlight.engine import compilation, from_objects, list_methods
from tokenlight.engine.memory import decoder_layers

PROMPT, TARGET = "def add(a, b):\n    return", " a + b\n"
SECOND_LENGTH = "def subtract(first, second):\n    return"  # a prompt of another token length
# float32 rounding of another kernel schedule: ~1e-7 of each activation, which a gradient method
# carries into scores; input_x_gradient's smallest-magnitude rows measured 3e-6 of the largest
TOLERANCE = 2e-5


def _run(lm, method: str, **options):
    return attribute(lm, PROMPT, target_text=TARGET, method=method, seed=3, **fast_options(method), **options)


def _compile_notes(res) -> list[str]:
    return [n for n in res.notes if n.startswith("compile_layers")]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    assert np.array_equal(np.isnan(a), np.isnan(b))
    return float(np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(b)))


@pytest.mark.parametrize("method", [m.id for m in list_methods()])
def test_compiled_layers_give_eagers_scores_for_every_method(tiny_gpt2, method):
    impl = next(m for m in list_methods() if m.id == method)
    eager = _run(tiny_gpt2, method)
    messages: list[str] = []
    compiled = _run(
        tiny_gpt2, method, compile_layers=True, progress=lambda done, total, message: messages.append(message)
    )
    notes = _compile_notes(compiled)
    assert len(notes) == 1
    assert not _compile_notes(eager)
    if impl.recomputable:
        assert "the 2 decoder layers ran compiled" in notes[0]
        assert "compiled first" in messages[0]  # said before the wait, not after it
        assert _relative(compiled.scores, eager.scores) <= TOLERANCE
    else:
        assert f"{method} ran eager" in notes[0] and "integrated_gradients" in notes[0]
        np.testing.assert_array_equal(compiled.scores, eager.scores)
    assert compiled.options["compile_layers"] is True
    assert all("forward" not in vars(layer) for layer in decoder_layers(tiny_gpt2.model))


def test_a_compiled_call_leaves_no_wrapper_or_flag_behind(tiny_gpt2, monkeypatch):
    from torch._functorch import config as functorch_config

    before = functorch_config.donated_buffer
    seen: list[bool] = []
    real = compilation.compiled_layers

    @contextmanager
    def watching(model):
        with real(model) as count:
            seen.append(functorch_config.donated_buffer)
            seen.extend("forward" in vars(layer) for layer in decoder_layers(model))
            yield count

    monkeypatch.setattr(compilation, "compiled_layers", watching)
    _run(tiny_gpt2, "integrated_gradients", compile_layers=True)
    assert seen == [False, True, True]  # inside: the flag off, both layers wrapped
    assert functorch_config.donated_buffer == before
    assert all("forward" not in vars(layer) for layer in decoder_layers(tiny_gpt2.model))


def test_a_failed_compilation_runs_eager_says_why_and_is_not_tried_again(tiny_gpt2, monkeypatch):
    calls: list[int] = []

    def broken_backend(graph, example_inputs):
        calls.append(1)
        raise RuntimeError("no C++ compiler here (a test backend)")

    monkeypatch.setattr(compilation, "BACKEND", broken_backend)
    torch._dynamo.reset()  # compiled graphs of the other tests would otherwise be reused
    lm = from_objects(tiny_gpt2.model, tiny_gpt2.tokenizer, name="tiny-gpt2-uncompilable")
    eager = _run(lm, "integrated_gradients")
    first = _run(lm, "integrated_gradients", compile_layers=True)
    (note,) = _compile_notes(first)
    assert "torch.compile failed" in note and "no C++ compiler here" in note and "ran eager" in note
    np.testing.assert_array_equal(first.scores, eager.scores)
    assert lm.compile_failure is not None and calls
    tried = len(calls)
    second = _run(lm, "integrated_gradients", compile_layers=True)
    assert len(calls) == tried  # remembered: no second attempt
    (note,) = _compile_notes(second)
    assert "failed on this model earlier" in note
    np.testing.assert_array_equal(second.scores, eager.scores)
    assert all("forward" not in vars(layer) for layer in decoder_layers(lm.model))
    torch._dynamo.reset()


def _fresh_copy(lm, name: str):
    """``lm``'s architecture with its own weights, so that releasing it leaves ``lm`` usable."""
    import copy

    return from_objects(copy.deepcopy(lm.model), lm.tokenizer, name=name)


@pytest.fixture
def counted_graphs(monkeypatch) -> list[int]:
    """Graphs handed to the backend, one entry each; the backend runs them as traced (no inductor:
    what these tests count is dynamo's graphs, not their code)."""
    graphs: list[int] = []

    def counting_backend(graph, example_inputs):
        graphs.append(1)
        return graph.forward

    monkeypatch.setattr(compilation, "BACKEND", counting_backend)
    return graphs


def test_past_dynamos_recompile_limit_a_call_runs_eager_and_says_so(tiny_gpt2, counted_graphs):
    """dynamo's limit on graphs per code object, lowered to 1 here: the second prompt length would
    need a second graph, and dynamo would run the layers eager behind a "ran compiled" note."""
    torch._dynamo.reset()
    lm = _fresh_copy(tiny_gpt2, "tiny-gpt2-limited")
    with torch._dynamo.config.patch(recompile_limit=1):
        first = _run(lm, "input_x_gradient", compile_layers=True)
        assert any("ran compiled" in n for n in _compile_notes(first))
        other = SECOND_LENGTH
        eager = attribute(lm, other, target_text=TARGET, method="input_x_gradient")
        limited = attribute(lm, other, target_text=TARGET, method="input_x_gradient", compile_layers=True)
    (note,) = _compile_notes(limited)
    assert "recompile limit (recompile_limit = 1 graphs" in note
    assert "ran eager" in note and "not be compiled again" in note
    np.testing.assert_array_equal(limited.scores, eager.scores)
    assert torch._dynamo.config.fail_on_recompile_limit_hit is False  # only inside the call
    lm.release()


def test_a_released_model_takes_its_graphs_with_it(tiny_gpt2, counted_graphs):
    """After one model ran compiled and was released, the next one compiles afresh: its graph does
    not count against the limit the first model's graph used up."""
    torch._dynamo.reset()
    with torch._dynamo.config.patch(recompile_limit=1):
        first = _fresh_copy(tiny_gpt2, "tiny-gpt2-first")
        assert any("ran compiled" in n for n in _compile_notes(_run(first, "input_x_gradient", compile_layers=True)))
        first.release()
        before = len(counted_graphs)
        second = _fresh_copy(tiny_gpt2, "tiny-gpt2-second")
        other = SECOND_LENGTH  # a second graph, were the first model's still counted
        res = attribute(second, other, target_text=TARGET, method="input_x_gradient", compile_layers=True)
    assert any("ran compiled" in n for n in _compile_notes(res)), res.notes
    assert len(counted_graphs) > before  # compiled for this model, not run eager past the limit
    assert second.compile_failure is None
    torch._dynamo.reset()


@pytest.fixture(scope="module")
def long_gpt2(tokenizer):
    """tiny_gpt2's layer shapes with room for ~200 tokens, so that one point can exceed a 1 MiB budget."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=2, n_head=4)
    return from_objects(GPT2LMHeadModel(config).eval(), tokenizer, name="tiny-gpt2-256")


def test_compilation_composes_with_recomputation(long_gpt2):
    prompt = "def add(a, b):\n    return a + b\n" * 10 + "def sub(a, b):\n    return"
    options = {"target_text": " a - b", "n_steps": 4, "memory_budget": 1}
    eager = attribute(long_gpt2, prompt, **options)
    compiled = attribute(long_gpt2, prompt, compile_layers=True, **options)
    assert any("gradient checkpointing" in n for n in eager.notes)  # the case is what it says
    assert any("gradient checkpointing" in n for n in compiled.notes)
    assert any("ran compiled" in n for n in _compile_notes(compiled))
    assert _relative(compiled.scores, eager.scores) <= TOLERANCE
