"""Perturbation methods reuse the unperturbed prefix's keys and values (``unchanged_prefix``).

Occluding position i changes nothing before i, so a batch whose rows all agree with the input on
their first k positions needs only positions ≥ k computed. Held here: the values and every
perturbation method's scores are the same with the reuse on and off (GPT-2's learned positions and
Llama's rotary, grouped-query attention), the batch's pass really runs only the positions after
the prefix, a different input is never served from a stale cache, and nothing is reused while
gradients are recorded.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_decoder
from transformers import LlamaConfig, LlamaForCausalLM

from tokenlight import attribute
from tokenlight.engine import from_objects
from tokenlight.engine.heads import CausalTargets
from tokenlight.engine.step_functions import get_step_function

PROMPT, TARGET = "def add(a, b):\n    return", " a + b\n"
PERTURBATION = ["occlusion", "lime", "kernel_shap"]


@pytest.fixture(scope="module")
def tiny_llama(tokenizer):
    model = tiny_decoder(LlamaConfig, LlamaForCausalLM, tokenizer)
    return from_objects(model, tokenizer, name="tiny-llama")


def _lengths_seen(module: torch.nn.Module) -> tuple[list[tuple[int, int]], torch.utils.hooks.RemovableHandle]:
    """(batch, positions) of every call of ``module``, from a forward pre-hook."""
    seen: list[tuple[int, int]] = []

    def hook(_module, _args, kwargs):
        emb = kwargs["inputs_embeds"]
        seen.append((emb.shape[0], emb.shape[1]))

    return seen, module.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("model", ["tiny_gpt2", "tiny_llama"])
@pytest.mark.parametrize("method", PERTURBATION)
def test_scores_are_the_same_with_the_prefix_reused_or_not(request, model, method):
    lm = request.getfixturevalue(model)
    options = {"target_text": TARGET, "method": method, "seed": 3, "n_samples": 64, "internal_batch_size": 5}
    on = attribute(lm, PROMPT, reuse_prefix=True, **options)
    off = attribute(lm, PROMPT, reuse_prefix=False, **options)
    scale = float(np.nanmax(np.abs(off.scores)))
    assert scale > 0
    np.testing.assert_allclose(on.scores, off.scores, rtol=0, atol=1e-5 * scale)
    np.testing.assert_array_equal(np.isnan(on.scores), np.isnan(off.scores))


@pytest.mark.parametrize("model", ["tiny_gpt2", "tiny_llama"])
def test_a_batch_runs_only_the_positions_after_the_unchanged_prefix(request, model):
    lm = request.getfixturevalue(model)
    step = get_step_function("logit")
    targets = CausalTargets(lm.model, step, [5, 9, 11], None)
    length, k = 14, 6
    torch.manual_seed(0)
    x = torch.randn(length, lm.model.config.hidden_size)
    batch = x.unsqueeze(0).repeat(4, 1, 1)
    batch[:, k:] += torch.randn(4, length - k, x.shape[1])  # rows differ only at positions ≥ k
    expected = torch.stack(CausalTargets(lm.model, step, [5, 9, 11], None, reuse_prefix=False)(batch), 1)

    body = targets.split[0]
    seen, handle = _lengths_seen(body)
    try:
        with torch.no_grad():
            first = torch.stack(targets(batch, unchanged_prefix=k), 1)
            again = torch.stack(targets(batch, unchanged_prefix=k), 1)
            longer = torch.stack(targets(batch[:, :], unchanged_prefix=k - 2), 1)  # a shorter promise: cached
    finally:
        handle.remove()
    # the prefix once (1 row, k positions), then each batch over its L − k positions only
    assert seen == [(1, k), (4, length - k), (4, length - k), (4, length - k + 2)]
    for got in (first, again, longer):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


def test_a_different_input_is_never_served_from_the_cache(tiny_gpt2):
    step = get_step_function("logit")
    targets = CausalTargets(tiny_gpt2.model, step, [7, 8], None)
    plain = CausalTargets(tiny_gpt2.model, step, [7, 8], None, reuse_prefix=False)
    torch.manual_seed(1)
    for _ in range(3):  # a new input each time, same length and the same promise
        batch = torch.randn(1, 10, 32).repeat(3, 1, 1)
        batch[:, 4:] += torch.randn(3, 6, 32)
        with torch.no_grad():
            got = torch.stack(targets(batch, unchanged_prefix=4), 1)
            want = torch.stack(plain(batch), 1)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))


def test_nothing_is_reused_while_gradients_are_recorded(tiny_gpt2):
    step = get_step_function("logit")
    targets = CausalTargets(tiny_gpt2.model, step, [7], None)
    emb = torch.randn(2, 9, 32).requires_grad_(True)
    (value,) = targets(emb, unchanged_prefix=5)
    (grad,) = torch.autograd.grad(value.sum(), emb)
    assert float(grad[:, :5].abs().sum()) > 0  # the prefix is in the graph: it was run, not cached
    assert targets.prefix is not None and targets.prefix.length == 0
