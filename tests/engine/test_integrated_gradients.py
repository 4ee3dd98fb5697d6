"""Integrated Gradients through the batched kernel, checked against independent computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from captum.attr import InputXGradient, IntegratedGradients, LayerIntegratedGradients, Saliency

from tokenlight import attribute

PROMPT = "def add(a, b):\n    return"


def _independent_values(lm, res, baseline_ids: int | None) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and f(x′) for every target from plain forward passes, not the engine's code."""
    model = lm.model
    ids = torch.tensor([[t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]])
    emb = model.get_input_embeddings()(ids)
    base = (
        torch.zeros_like(emb)
        if baseline_ids is None
        else model.get_input_embeddings()(torch.full_like(ids, baseline_ids))
    )
    s = len(res.source_tokens)
    with torch.no_grad():
        fx = model(inputs_embeds=emb).logits[0]
        fb = model(inputs_embeds=base).logits[0]
    tid = [t.id for t in res.target_tokens]
    pos = [s - 1 + t for t in range(len(tid))]
    return fx[pos, tid].numpy(), fb[pos, tid].numpy()


def test_completeness_on_the_embedded_model(lm):
    res = attribute(lm, PROMPT, max_new_tokens=8)  # default n_steps, zero baseline, logit
    fx, fb = _independent_values(lm, res, None)
    np.testing.assert_allclose(res.target_scores, fx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(res.baseline_scores, fb, rtol=1e-4, atol=1e-4)
    total = np.nansum(res.scores, axis=1)
    # captum's sign convention: delta = Σ attributions − (f(x) − f(x′))
    np.testing.assert_allclose(res.deltas, total - (fx - fb), atol=1e-3)
    assert np.all(np.abs(res.deltas) < 0.01 * np.abs(fx - fb)), (res.deltas, fx - fb)


def test_completeness_with_probability_and_token_baseline(lm):
    res = attribute(lm, PROMPT, max_new_tokens=4, step_function="probability", baseline="unk", n_steps=48)
    total = np.nansum(res.scores, axis=1).astype(np.float64)
    change = res.target_scores.astype(np.float64) - res.baseline_scores
    np.testing.assert_allclose(res.deltas, total - change, atol=1e-5)
    assert np.all(np.abs(res.deltas) < 0.01 * np.abs(change) + 1e-5)


def _captum_forward(model, target_id: int):
    def forward(inputs_embeds: torch.Tensor) -> torch.Tensor:
        return model(inputs_embeds=inputs_embeds).logits[:, -1, target_id]

    return forward


def test_batched_kernel_equals_captum_layer_ig_per_target(lm):
    """The peers' way: one captum run per target on its growing prefix. Ours: one forward for all."""
    n_steps = 16
    res = attribute(lm, PROMPT, max_new_tokens=6, baseline="eos", n_steps=n_steps)
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]
    s = len(res.source_tokens)
    model = lm.model
    eos = lm.tokenizer.eos_token_id
    for t, target in enumerate(res.target_tokens):
        prefix = torch.tensor([ids[: s + t]])

        def forward(input_ids: torch.Tensor, _tid: int = target.id) -> torch.Tensor:
            return model(input_ids=input_ids).logits[:, -1, _tid]

        lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
        attr = lig.attribute(
            prefix, baselines=torch.full_like(prefix, eos), n_steps=n_steps, method="gausslegendre"
        ).sum(-1)[0]
        ours = res.scores[t, : s + t]
        scale = np.abs(attr.numpy()).max()
        np.testing.assert_allclose(ours, attr.numpy(), atol=1e-4 * scale, rtol=0)
        assert np.all(np.isnan(res.scores[t, s + t :]))


def test_future_positions_get_exactly_zero_gradient(lm):
    """Causality, checked with captum on the *full* sequence: positions after a target's own
    position receive exactly 0, which is why the batched kernel may share one forward."""
    res = attribute(lm, PROMPT, max_new_tokens=4, n_steps=8)
    ids = torch.tensor([[t.id for t in res.source_tokens] + [t.id for t in res.target_tokens[:-1]]])
    s = len(res.source_tokens)
    model = lm.model
    emb = model.get_input_embeddings()(ids).detach()
    for t, target in enumerate(res.target_tokens[:-1]):

        def forward(x: torch.Tensor, _t: int = t, _tid: int = target.id) -> torch.Tensor:
            return model(inputs_embeds=x).logits[:, s - 1 + _t, _tid]

        attr = (
            IntegratedGradients(forward)
            .attribute(emb, baselines=torch.zeros_like(emb), n_steps=8, method="gausslegendre")
            .sum(-1)[0]
        )
        assert torch.all(attr[s + t :] == 0)
        np.testing.assert_allclose(
            res.scores[t, : s + t], attr[: s + t].numpy(), atol=1e-4 * float(attr.abs().max()), rtol=0
        )


@pytest.mark.parametrize("method,captum_cls", [("saliency", Saliency), ("input_x_gradient", InputXGradient)])
def test_single_point_methods_equal_captum(lm, method, captum_cls):
    res = attribute(lm, PROMPT, max_new_tokens=3, method=method)
    ids = torch.tensor([[t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]])
    s = len(res.source_tokens)
    model = lm.model
    for t, target in enumerate(res.target_tokens):
        emb = model.get_input_embeddings()(ids[:, : s + t]).detach()
        explainer = captum_cls(_captum_forward(model, target.id))
        kwargs = {"abs": True} if method == "saliency" else {}
        attr = explainer.attribute(emb, **kwargs).sum(-1)[0].detach().numpy()
        np.testing.assert_allclose(res.scores[t, : s + t], attr, rtol=1e-4, atol=1e-5 * np.abs(attr).max())


def test_internal_batch_size_never_changes_results(lm):
    kwargs = {"max_new_tokens": 5, "n_steps": 12, "target_text": " a + b\n"}
    one = attribute(lm, PROMPT, internal_batch_size=1, **kwargs)
    default = attribute(lm, PROMPT, **kwargs)
    every = attribute(lm, PROMPT, internal_batch_size=12, **kwargs)
    odd = attribute(lm, PROMPT, internal_batch_size=5, **kwargs)
    scale = np.nanmax(np.abs(default.scores))
    for other in (one, every, odd):
        np.testing.assert_allclose(other.scores, default.scores, atol=1e-6 * scale, rtol=0)
        np.testing.assert_allclose(other.deltas, default.deltas, atol=1e-6 * scale, rtol=0)


def test_more_steps_converge(tiny_gpt2):
    """Gauss-Legendre error falls with n_steps (the delta is a real convergence measure)."""
    few = attribute(tiny_gpt2, "x = [1, 2", target_text=", 3]", n_steps=2)
    many = attribute(tiny_gpt2, "x = [1, 2", target_text=", 3]", n_steps=64)
    assert np.abs(many.deltas).max() < np.abs(few.deltas).max()
    assert np.abs(many.deltas).max() < 1e-3


def test_progress_and_cancellation(tiny_gpt2):
    from tokenlight.engine import AttributionCancelled

    seen: list[tuple[int, int, str]] = []
    res = attribute(
        tiny_gpt2,
        "a = 1",
        target_text=" + 2",
        n_steps=6,
        internal_batch_size=2,
        progress=lambda done, total, msg: seen.append((done, total, msg)),
    )
    n_targets = len(res.target_tokens)
    assert seen[-1][0] == seen[-1][1] == 6 * n_targets
    assert [m for _, _, m in seen[:n_targets]] == [f"target {k + 1} of {n_targets}" for k in range(n_targets)]
    assert len(seen) == 3 * n_targets  # 3 chunks of 2 points, one report per target per chunk
    calls = {"n": 0}

    def cancel_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(AttributionCancelled):
        attribute(
            tiny_gpt2, "a = 1", target_text=" + 2", n_steps=6, internal_batch_size=2, is_cancelled=cancel_after_two
        )
    # the model is immediately usable again
    again = attribute(tiny_gpt2, "a = 1", target_text=" + 2", n_steps=2)
    assert again.scores.shape == res.scores.shape


def test_clenshaw_curtis_is_exact_for_polynomials_and_nested():
    from tokenlight.engine.quadrature import clenshaw_curtis

    for n_points in (5, 9, 17, 33, 65):
        alphas, weights = clenshaw_curtis(n_points)
        for degree in range(n_points):
            assert float(weights @ alphas**degree) == pytest.approx(1 / (degree + 1), abs=1e-12)
    coarse, _ = clenshaw_curtis(9)
    fine, _ = clenshaw_curtis(17)
    np.testing.assert_allclose(fine[0::2], coarse, atol=1e-15)


def test_gauss_kronrod_patterson_levels_are_exact_to_their_degree_and_nested():
    from tokenlight.engine.quadrature import ADAPTIVE_LEVELS, PATTERSON_LEVELS, adaptive_rule, patterson

    # exactness, on [−1, 1], in the Legendre basis (∫ P_k = 2 for k = 0, else 0), where an inexact
    # degree shows an error far above rounding (a monomial's can be tiny). Any n nodes integrate degree
    # n − 1 exactly with their interpolatory weights; the degrees below hold only for the right
    # nodes: Gauss 7 to degree 13, Kronrod 15 to 23, Patterson 31 to 47, Patterson 63 to 95
    def errors(alphas: np.ndarray, weights: np.ndarray, degree: int) -> np.ndarray:
        values = np.polynomial.legendre.legvander(2 * alphas - 1, degree)  # [n, degree + 1]
        return np.abs((2 * weights) @ values - np.eye(degree + 1)[0] * 2)

    exact_to = {7: 13, 15: 23, 31: 47, 63: 95}
    assert tuple(exact_to) == PATTERSON_LEVELS
    for n_points, degree in exact_to.items():
        alphas, weights = patterson(n_points)
        assert len(alphas) == n_points
        assert np.all(np.diff(alphas) > 0) and np.all(weights > 0)
        err = errors(alphas, weights, degree + 2)  # odd degrees vanish by symmetry: check two more
        assert err[: degree + 1].max() < 1e-13, n_points
        assert err[degree + 1] > 1e-10, n_points  # rounding is ~1e-15; the first inexact degree 0.45 ... 8.7e-8
    # the first level is numpy's Gauss-Legendre rule, weights included
    gauss, gauss_w = patterson(7)
    nodes, gl_weights = np.polynomial.legendre.leggauss(7)
    np.testing.assert_allclose(gauss, (nodes + 1) / 2, atol=1e-15)
    np.testing.assert_allclose(gauss_w, gl_weights / 2, atol=1e-15)
    # nesting: every level contains the one before, so no gradient is thrown away
    for coarse, fine in itertools.pairwise(PATTERSON_LEVELS):
        assert set(np.round(patterson(coarse)[0], 14)) <= set(np.round(patterson(fine)[0], 14))
    assert ADAPTIVE_LEVELS[: len(PATTERSON_LEVELS)] == PATTERSON_LEVELS
    np.testing.assert_array_equal(adaptive_rule(31)[0], patterson(31)[0])


def test_adaptive_default_meets_its_tolerance_and_reports_points(lm):
    from tokenlight.engine.quadrature import ADAPTIVE_LEVELS

    for tolerance in (1e-2, 1e-4):
        res = attribute(lm, PROMPT, max_new_tokens=4, tolerance=tolerance)
        change = np.abs(res.target_scores.astype(np.float64) - res.baseline_scores)
        assert res.n_steps in ADAPTIVE_LEVELS
        assert np.all(np.abs(res.deltas) <= tolerance * change + 1e-6)
    loose = attribute(lm, PROMPT, max_new_tokens=4, tolerance=1e-1)
    tight = attribute(lm, PROMPT, max_new_tokens=4, tolerance=1e-5)
    assert loose.n_steps < tight.n_steps


def test_adaptive_agrees_with_many_gauss_legendre_points(lm):
    adaptive = attribute(lm, PROMPT, target_text=" a + b\n", tolerance=1e-4)
    reference = attribute(lm, PROMPT, target_text=" a + b\n", n_steps=128)
    scale = np.nanmax(np.abs(reference.scores))
    np.testing.assert_allclose(adaptive.scores, reference.scores, atol=1e-3 * scale, rtol=0)


def test_adaptive_is_chunk_invariant(lm):
    one = attribute(lm, PROMPT, target_text=" a + b", internal_batch_size=1)
    default = attribute(lm, PROMPT, target_text=" a + b")
    assert one.n_steps == default.n_steps
    scale = np.nanmax(np.abs(default.scores))
    np.testing.assert_allclose(one.scores, default.scores, atol=1e-6 * scale, rtol=0)
