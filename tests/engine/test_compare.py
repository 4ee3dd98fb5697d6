"""``compare`` (several methods, evaluated and ranked) and ``--against`` (two inputs, one target)."""

from __future__ import annotations

import numpy as np
import pytest

from tokenlight import InputError
from tokenlight.engine.against import attribute_against
from tokenlight.engine.compare import compare
from tokenlight.engine.ranking import kendall_tau, spearman

PROMPT = "def add(a, b):\n    return"


def test_compare_lists_refused_methods_with_their_reasons(linear_lm):
    report = compare(
        linear_lm,
        PROMPT,
        methods=["input_x_gradient", "integrated_gradients", "lrp", "attention", "no_such_method"],
        target_text=" a + b",
        n_steps=4,
    )
    by_id = {m["id"]: m for m in report["methods"]}
    assert list(by_id) == ["input_x_gradient", "integrated_gradients", "lrp", "attention", "no_such_method"]
    assert by_id["no_such_method"]["status"] == "refused"
    assert "unknown method 'no_such_method'" in by_id["no_such_method"]["reason"]
    assert by_id["lrp"]["status"] == "refused" and "LRP" in by_id["lrp"]["reason"]  # no rules for this model
    # the linear model has no attention to read: refused in words that say what to use instead
    assert by_id["attention"]["status"] == "refused"
    assert "cannot return attention weights" in by_id["attention"]["reason"]
    for m in ("input_x_gradient", "integrated_gradients"):
        row = by_id[m]
        assert row["status"] == "ok" and row["seconds"] > 0 and row["deletionAuc"] is not None
        assert len(row["deletion"]) == len(report["fractions"]) == 11
    assert by_id["integrated_gradients"]["converged"] is True and by_id["input_x_gradient"]["converged"] is None
    # on a linear model with a zero baseline input×gradient and IG are the same exact map
    (pair,) = report["agreement"]
    assert pair["spearman"] == pytest.approx(1.0) and pair["kendall"] == pytest.approx(1.0)
    rec = report["recommendation"]
    assert rec["method"] in ("input_x_gradient", "integrated_gradients")
    assert "highest deletion AUC" in rec["reason"] and " s" in rec["reason"]


def test_compare_with_a_bad_option_is_the_requests_error(linear_lm):
    with pytest.raises(InputError, match="n_steps"):
        compare(linear_lm, PROMPT, methods=["saliency"], target_text=" a", n_steps=0)


def test_rank_correlations_match_a_literal_count():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=9), rng.normal(size=9)
    b[2] = b[5]  # a tie
    concordant = discordant = ties_a = ties_b = 0
    for i in range(9):
        for j in range(i + 1, 9):
            s = np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
            concordant += s > 0
            discordant += s < 0
            ties_a += a[i] == a[j]
            ties_b += b[i] == b[j]
    pairs = 36
    tau_b = (concordant - discordant) / np.sqrt((pairs - ties_a) * (pairs - ties_b))
    assert kendall_tau(a, b) == pytest.approx(tau_b)
    ra = np.argsort(np.argsort(a)) + 1.0
    rb = np.array([sorted(b).index(v) + 1 + (0.5 if v == b[2] else 0.0) for v in b])
    assert spearman(a, b) == pytest.approx(np.corrcoef(ra, rb)[0, 1])
    assert spearman(np.ones(4), a[:4]) is None


def test_against_the_same_input_differs_nowhere(lm):
    report = attribute_against(lm, PROMPT, PROMPT, method="input_x_gradient", max_new_tokens=3)
    assert report["aligned"] and all(r["a"] == r["b"] for r in report["aligned"])
    for row in report["aligned"]:
        assert row["difference"] == [0.0] * len(report["targetTokens"])


def test_against_explains_both_inputs_for_the_first_inputs_target(lm):
    report = attribute_against(lm, "x = 1\ny =", "x = 2\ny =", method="saliency", target_text=" x")
    assert report["targetTokens"] == [" x"] and "forced on both inputs" in report["target"]
    changed = [r for r in report["aligned"] if r["text"] != r["textB"]]
    assert [(r["text"], r["textB"]) for r in changed] == [(" 1", " 2")]  # aligned by token: one substitution
    assert all(r["difference"] is not None for r in report["aligned"])


def test_every_registered_method_is_evaluated_or_refused_with_consistent_curves(tiny_gpt2, tiny_classifier):
    """Over the whole registry: each method either runs, and its curves start and end where the
    definition says (v(0) = u(1) = f(x), v(1) = u(0): all removed), or says why it did not."""
    from tokenlight.engine import list_methods

    ids = [m.id for m in list_methods()]
    for lm, target in ((tiny_gpt2, {"target_text": " a"}), (tiny_classifier, {})):
        report = compare(lm, PROMPT, methods=ids, n_steps=4, n_samples=8, random_orders=1, **target)
        assert [m["id"] for m in report["methods"]] == ids
        for row in report["methods"]:
            if row["status"] != "ok":
                assert row["reason"], row
                continue
            for figures in row["faithfulness"]["targets"]:
                deletion, insertion = figures["deletion"], figures["insertion"]
                assert deletion[0] == pytest.approx(insertion[-1], abs=1e-6)
                assert deletion[-1] == pytest.approx(insertion[0], abs=1e-6)
        ran = [m for m in report["methods"] if m["status"] == "ok"]
        assert len(ran) >= len(ids) // 2, [(m["id"], m.get("reason")) for m in report["methods"]]


def test_against_on_a_classifier_explains_the_first_inputs_class_on_both(tiny_classifier):
    first = attribute_against(tiny_classifier, "good film", "bad film", method="input_x_gradient")
    again = attribute_against(tiny_classifier, "good film", "good film", method="input_x_gradient")
    assert first["target"].startswith("class ") and first["targetTokens"] == again["targetTokens"]
    assert all(d == 0.0 for row in again["aligned"] for d in row["difference"])
    assert any(row["text"] != row["textB"] for row in first["aligned"])
