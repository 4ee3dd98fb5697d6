"""Faithfulness curves against independent answers: the analytic curves of an additive model, the
analytic expectation of a random order, and a literal loop over the embedded model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tokenlight import InputError, attribute
from tokenlight.engine.faithfulness import evaluate_faithfulness

PROMPT = "def add(a, b):\n    return"
FRACTIONS = [i / 10 for i in range(11)]


def _k(f: float, n: int) -> int:
    """⌊f·n + ½⌋, written out independently of the engine (decimal fractions, half up)."""
    return math.floor(round(f * n, 9) + 0.5)


def _trapezoid(values):
    return sum(0.1 * (values[i] + values[i + 1]) / 2 for i in range(10))


def _exact_contributions(linear_lm, res, t):
    """For the additive model, what removing source i changes target t by: ⟨W_y, e_i⟩ (zero baseline)."""
    model = linear_lm.model
    w = model.head[res.target_tokens[t].id].double()
    return {
        i: float(model.embed.weight[tok.id].double() @ w) for i, tok in enumerate(res.source_tokens) if not tok.special
    }


def test_additive_model_gives_the_analytic_curves(linear_lm):
    res = attribute(linear_lm, PROMPT, target_text=" a + b", evaluate=True, random_orders=0, n_steps=4)
    faith = res.faithfulness
    assert faith["fractions"] == pytest.approx(FRACTIONS)
    for t, figures in enumerate(faith["targets"]):
        c = _exact_contributions(linear_lm, res, t)
        order = sorted(c, key=lambda i: -c[i])
        n = len(order)
        fx = float(res.target_scores[t])
        deletion = [fx - sum(c[i] for i in order[: _k(f, n)]) for f in FRACTIONS]
        insertion = [fx - sum(c[i] for i in order[_k(f, n) :]) for f in FRACTIONS]
        np.testing.assert_allclose(figures["deletion"], deletion, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(figures["insertion"], insertion, rtol=1e-4, atol=1e-3)
        total = sum(c.values())
        assert figures["deletionArea"] == pytest.approx(_trapezoid(deletion), rel=1e-4, abs=1e-3)
        assert figures["deletionAuc"] == pytest.approx((fx - _trapezoid(deletion)) / total, rel=1e-4, abs=1e-4)
        assert figures["insertionAuc"] == pytest.approx(
            (_trapezoid(insertion) - (fx - total)) / total, rel=1e-4, abs=1e-4
        )
        for q in (0.05, 0.1, 0.2):
            top = order[: _k(q, n)]
            assert figures["comprehensiveness"][f"{q:g}"] == pytest.approx(sum(c[i] for i in top), abs=1e-3)
            rest = [i for i in order if i not in top]
            assert figures["sufficiency"][f"{q:g}"] == pytest.approx(sum(c[i] for i in rest), abs=1e-3)
    # the summed-over-targets curve is the sum of the targets' curves
    summed = np.sum([f["deletion"] for f in faith["targets"]], axis=0)
    np.testing.assert_allclose(faith["total"]["deletion"], summed, rtol=1e-9)


def test_a_random_orders_expected_auc_is_analytic(linear_lm):
    """Over uniformly random orders E[v(f)] = f(x) − (k_f / S′)·Σc, so the expected normalised deletion
    AUC is (v(0) − trapezoid(E v)) / Σc: here with S′ = 10, k_f/S′ = f exactly and the answer is ½."""
    prompt = "a b c d e f g h i j"  # ten single-token words after BOS
    orders = 400
    res = attribute(linear_lm, prompt, target_text=" k", evaluate=True, random_orders=orders, n_steps=2)
    faith = res.faithfulness
    assert faith["units"] == 10
    c = _exact_contributions(linear_lm, res, 0)
    total, fx = sum(c.values()), float(res.target_scores[0])
    expected_v = [fx - _k(f, 10) / 10 * total for f in FRACTIONS]
    expected_auc = (fx - _trapezoid(expected_v)) / total
    assert expected_auc == pytest.approx(0.5)
    spread = faith["targets"][0]["random"]["deletionAuc"]
    assert spread["std"] > 0
    assert abs(spread["mean"] - expected_auc) < 4 * spread["std"] / math.sqrt(orders)
    insertion = faith["targets"][0]["random"]["insertionAuc"]
    assert abs(insertion["mean"] - 0.5) < 4 * insertion["std"] / math.sqrt(orders)
    # the exact attribution order beats random on an additive model
    assert faith["targets"][0]["deletionAuc"] > spread["mean"] + 2 * spread["std"]


def test_a_literal_loop_recomputes_the_deletion_curve_on_the_embedded_model(lm):
    res = attribute(lm, PROMPT, target_text=" a + b", method="input_x_gradient", evaluate=True, random_orders=1)
    sources = res.source_tokens
    ids = torch.tensor([t.id for t in sources] + [t.id for t in res.target_tokens[:-1]])
    emb = lm.model.get_input_embeddings()(ids).detach()
    removable = [i for i, tok in enumerate(sources) if not tok.special]
    n = len(removable)
    for t, target in enumerate(res.target_tokens):
        row = res.scores[t]
        order = sorted(removable, key=lambda i: (-row[i], i))
        deletion, insertion = [], []
        for f in FRACTIONS:
            k = _k(f, n)
            for removed, out in ((order[:k], deletion), (order[k:], insertion)):
                x = emb.clone()
                x[removed] = 0.0  # the zero baseline
                with torch.no_grad():
                    logits = lm.model(inputs_embeds=x.unsqueeze(0)).logits[0]
                out.append(float(logits[len(sources) - 1 + t, target.id]))
        figures = res.faithfulness["targets"][t]
        np.testing.assert_allclose(figures["deletion"], deletion, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(figures["insertion"], insertion, rtol=1e-4, atol=1e-4)
        assert figures["comprehensiveness"]["0.1"] == pytest.approx(deletion[0] - deletion[1], abs=1e-4)


def _additive_target_fn(weights: torch.Tensor, calls: list[int]):
    """Two targets: f_0 = Σ_i w_i·x_i[0], f_1 = Σ_i −w_i·x_i[0] (the reverse order is right for it)."""

    def target_fn(emb: torch.Tensor) -> list[torch.Tensor]:
        calls.append(emb.shape[0])
        value = (emb[:, :, 0] * weights).sum(dim=1)
        return [value, -value]

    return target_fn


def test_every_perturbed_input_goes_through_in_chunks_one_forward_each():
    weights = torch.tensor([0.0, 5.0, 4.0, 3.0, 2.0, 1.0], dtype=torch.float64)
    inputs = torch.ones(6, 2, dtype=torch.float64)
    calls: list[int] = []
    faith = evaluate_faithfulness(
        _additive_target_fn(weights, calls),
        inputs,
        torch.zeros_like(inputs),
        np.array([[5.0, 4.0, 3.0, 2.0, 1.0], [5.0, 4.0, 3.0, 2.0, 1.0]]),
        [[1], [2], [3], [4], [5]],  # position 0 plays a special token: never removed
        target_positions=[5, 6],
        random_orders=3,
        seed=0,
        chunk_size=7,
    )
    assert sum(calls) == faith["evaluations"]
    assert len(calls) == math.ceil(faith["evaluations"] / 7)
    # target 0: the order is exact (deletion falls fastest; S′ = 5, so f = 0.1 removes ⌊0.5 + ½⌋ = 1)
    assert faith["targets"][0]["deletion"][:3] == pytest.approx([15.0, 15.0 - 5.0, 15.0 - 5.0])
    assert faith["targets"][0]["deletionAuc"] > faith["targets"][0]["random"]["deletionAuc"]["mean"]
    # target 1 rises as its "top" tokens are removed: the normalised AUC measures how fast the value
    # moves to v(1) whichever way it goes; comprehensiveness keeps the sign and shows the order is backwards
    assert faith["targets"][1]["comprehensiveness"]["0.2"] == pytest.approx(-5.0)
    assert faith["targets"][0]["comprehensiveness"]["0.2"] == pytest.approx(5.0)


def test_a_score_is_undefined_when_removing_everything_changes_nothing():
    inputs = torch.ones(4, 2, dtype=torch.float64)
    faith = evaluate_faithfulness(
        lambda emb: [torch.full((emb.shape[0],), 3.0, dtype=torch.float64)],
        inputs,
        torch.zeros_like(inputs),
        np.array([[1.0, 2.0, 3.0]]),
        [[1], [2], [3]],
        target_positions=[3],
        random_orders=2,
        seed=0,
        chunk_size=64,
    )
    target = faith["targets"][0]
    assert target["deletionAuc"] is None and target["insertionAuc"] is None
    assert "under 1%" in target["undefined"]
    assert target["random"]["deletionAuc"] is None
    assert faith["mean"]["deletionAuc"] is None and faith["mean"]["definedTargets"] == 0


def test_a_targets_figures_do_not_depend_on_the_other_targets_asked(linear_lm):
    alone = attribute(linear_lm, PROMPT, target_text=" a + b", max_target_tokens=1, evaluate=True, n_steps=4)
    among = attribute(linear_lm, PROMPT, target_text=" a + b", evaluate=True, n_steps=4)
    a, b = alone.faithfulness["targets"][0], among.faithfulness["targets"][0]
    np.testing.assert_allclose(a["deletion"], b["deletion"], rtol=1e-5)
    assert a["random"]["deletionAuc"]["mean"] == pytest.approx(b["random"]["deletionAuc"]["mean"], rel=1e-5)


def test_word_aggregation_removes_whole_words(linear_lm):
    res = attribute(linear_lm, PROMPT, target_text=" a", evaluate=True, aggregate="word", n_steps=2)
    assert res.faithfulness["units"] == sum(1 for t in res.source_tokens if not t.special)


def test_the_figures_travel_in_json_and_msgpack(linear_lm):
    from tokenlight.engine import Attribution

    res = attribute(linear_lm, PROMPT, target_text=" a", evaluate=True, n_steps=2)
    data = res.to_json_dict()
    for key in ("fractions", "targets", "total", "mean"):
        assert key in data["faithfulness"]
    assert set(data["faithfulness"]["targets"][0]) >= {
        "deletion", "insertion", "deletionAuc", "insertionAuc", "deletionArea", "insertionArea",
        "comprehensiveness", "sufficiency", "random",
    }  # fmt: skip
    assert Attribution.from_msgpack(res.to_msgpack()) == res
    assert attribute(linear_lm, PROMPT, target_text=" a", n_steps=2).to_json_dict()["faithfulness"] is None


def test_random_orders_out_of_range_is_a_clear_error(linear_lm):
    with pytest.raises(InputError, match="random_orders"):
        attribute(linear_lm, PROMPT, target_text=" a", evaluate=True, random_orders=-1)


def test_a_prompt_of_special_tokens_only_says_there_is_nothing_to_remove(lm):
    res = attribute(lm, "", target_text=" x", method="saliency", evaluate=True, sanity=True)
    target = res.faithfulness["targets"][0]
    assert res.faithfulness["units"] == 0 and target["deletionAuc"] is None
    assert target["undefined"] == "the prompt has no non-special source tokens to remove"
    assert res.sanity["dependsOnWeights"] is None and "too few to judge" in res.sanity["note"]
