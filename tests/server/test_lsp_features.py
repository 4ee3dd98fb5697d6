"""Open, attribute, hover, inlay hints, diagnostics, focus and clear through a real client over pipes."""

from __future__ import annotations

import math

import pytest
from lsp_harness import lsp_range, text_at
from lsprotocol import types

SOURCE = "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"


def test_attribute_result_shape_and_inlay_hints(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    res = daemon.attribute(
        uri, lsp_range((0, 0), (1, 16)), target={"kind": "generate", "maxNewTokens": 3}, options={"nSteps": 8}
    )
    assert res["model"] == {"name": "tokenlight-tiny-py", "device": "cpu", "dtype": "float32"}
    assert res["method"] == "integrated_gradients" and res["nSteps"] == 8 and res["cached"] is False
    sources, targets = res["sourceTokens"], res["targetTokens"]
    assert sources[0] == {"text": "<|endoftext|>", "range": None, "special": True}
    for tok in sources[1:]:
        assert text_at(SOURCE, tok["range"]) == tok["text"]
    assert 1 <= len(targets) <= 3 and all(t["range"] is None for t in targets)
    assert all(0.0 <= t["probability"] <= 1.0 for t in targets)
    width = len(sources) + len(targets)
    assert [len(row) for row in res["scores"]] == [width] * len(targets)
    for t, row in enumerate(res["scores"]):
        # causal boundary: target t sees the sources and the targets before it, then null
        assert all(isinstance(v, float) and math.isfinite(v) for v in row[: len(sources) + t])
        assert row[len(sources) + t :] == [None] * (len(targets) - t)
    assert len(res["deltas"]) == len(targets) == len(res["targetScores"]) == len(res["baselineScores"])
    assert res["elapsedMs"] >= 0 and res["computeMs"] > 0

    hints = daemon.inlay_hints(uri)
    assert len(hints) == 1
    hint = hints[0]
    assert (hint.position.line, hint.position.character) == (1, 16)  # the selection's end
    assert isinstance(hint.label, list) and len(hint.label) == len(targets)
    for k, part in enumerate(hint.label):
        assert part.command is not None and part.command.command == "tokenlight.focusTarget"
        assert list(part.command.arguments) == [res["id"], k]
        assert "probability" in part.tooltip.value and "delta" in part.tooltip.value
    # a label part with a line break shows all its whitespace (md.visible): undo that to compare
    shown = "".join(
        "".join({"↵": "\n", "␍": "\r", "⇥": "\t", "·": " "}.get(c, c) for c in p.value) if "↵" in p.value else p.value
        for p in hint.label
    )
    assert shown == res["target"]["text"]


def test_hover_on_source_token_names_method_and_focus(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    res = daemon.attribute(
        uri, lsp_range((0, 0), (1, 16)), target={"kind": "generate", "maxNewTokens": 3}, options={"nSteps": 8}
    )
    n_targets = len(res["targetTokens"])
    index = next(i for i, t in enumerate(res["sourceTokens"]) if t["text"] == " add")
    hover = daemon.hover(uri, 0, 5)  # inside " add"
    assert hover is not None
    text = hover.contents.value
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert "Integrated Gradients" in text and "step function logit" in text and "baseline zero" in text
    assert f"sum over all {n_targets} targets" in text
    total = sum(row[index] for row in res["scores"])
    assert f"{total:.6g}" in text
    assert text.count("\n| ") == 1 + n_targets  # the header row and one row per target
    assert "| target's delta (share of f(x) − f(x′)) |" in text
    assert "not this token's" in text
    for t, delta in enumerate(res["deltas"]):  # each target's delta in its row, with its share of f(x) − f(x′)
        change = res["targetScores"][t] - res["baselineScores"][t]
        assert f"{delta:.6g} ({100 * abs(delta) / abs(change):.0f}%)" in text
    visible = [i for i, t in enumerate(res["sourceTokens"]) if not t["special"]]
    rank = 1 + sum(1 for j in visible if sum(row[j] for row in res["scores"]) > total)
    assert f"rank {rank} of {len(visible)} visible tokens" in text
    # BOS takes no part in the editor's colour scale: its share of the summed |attribution| is said
    summed = [sum(row[j] or 0.0 for row in res["scores"]) for j in range(len(res["scores"][0]))]
    bos = next(i for i, t in enumerate(res["sourceTokens"]) if t["special"])
    share = 100 * abs(summed[bos]) / sum(abs(v) for v in summed)
    assert f"carries {share:.0f}% of \\|attribution\\| (special: not in the colour scale)" in text
    rng = hover.range
    assert (rng.start.line, rng.start.character, rng.end.line, rng.end.character) == (0, 3, 0, 7)

    assert daemon.call("tokenlight/focus", {"id": res["id"], "target": n_targets - 1}) is None
    focused = daemon.hover(uri, 0, 5).contents.value
    assert f"target {n_targets - 1}" in focused and "sum over all" not in focused
    assert f"{res['scores'][n_targets - 1][index]:.6g}" in focused
    daemon.call("tokenlight/focus", {"id": res["id"], "target": None})
    assert "sum over all" in daemon.hover(uri, 0, 5).contents.value

    assert daemon.hover(uri, 3, 2) is None  # outside the selection: no token there


@pytest.mark.parametrize(
    ("method", "options", "budget", "step_function"),
    [
        ("gradient_shap", {"nSamples": 4}, "4 samples", True),
        ("kernel_shap", {"nSamples": 4}, "4 samples", True),
        ("integrated_gradients", {"nSteps": 8}, "steps", True),
        ("attention", {}, None, False),
    ],
)
def test_hover_names_exactly_what_was_computed(daemon, new_uri, method, options, budget, step_function):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    daemon.attribute(
        uri, lsp_range((0, 0), (0, 14)), method=method, target={"kind": "generate", "maxNewTokens": 2}, options=options
    )
    text = daemon.hover(uri, 0, 5).contents.value
    provenance = next(
        line for line in text.splitlines() if line.startswith("**") and "·" in line and "source" not in line
    )
    if budget is None:
        assert "steps" not in provenance and "samples" not in provenance
    else:
        assert budget in provenance
        assert ("samples" in budget) == ("steps" not in provenance)
    assert ("step function" in provenance) is step_function


def test_hover_escapes_markup_in_tokens(daemon, new_uri):
    uri = new_uri()
    text = "x = '<script>alert(`**hi**`)</script>'\n"
    daemon.open(uri, text)
    res = daemon.attribute(
        uri,
        lsp_range((0, 0), (0, len(text) - 1)),
        target={"kind": "generate", "maxNewTokens": 1},
        options={"nSteps": 4},
    )
    for tok in res["sourceTokens"][1:]:
        rng = tok["range"]
        hover = daemon.hover(uri, rng["start"]["line"], rng["start"]["character"])
        value = hover.contents.value
        first_line = value.splitlines()[0]
        # every ASCII punctuation character of the token is backslash-escaped: no tag, no code span
        assert "<script" not in value and "</script" not in value
        for ch in tok["text"]:
            if ch in "<>`*()'=/":
                assert "\\" + ch in first_line


def test_diagnostic_for_unconverged_result_and_cleared_when_replaced(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    rng = lsp_range((0, 0), (1, 16))
    daemon.attribute(uri, rng, target={"kind": "generate", "maxNewTokens": 4}, options={"nSteps": 1})
    daemon.settle()
    (diag,) = daemon.diagnostics[uri]
    assert diag.severity == types.DiagnosticSeverity.Warning and diag.source == "tokenlight"
    assert diag.message.startswith("Integrated Gradients did not converge for ")
    assert "largest delta" in diag.message and "Raise nSteps (now 1)." in diag.message
    assert (diag.range.start.line, diag.range.start.character, diag.range.end.line, diag.range.end.character) == (
        0,
        0,
        1,
        16,
    )
    # the same selection again, converged: the new result replaces the old one and its warning
    res = daemon.attribute(uri, rng, target={"kind": "generate", "maxNewTokens": 4}, options={"nSteps": 64})
    daemon.settle()
    changes = [abs(f - b) for f, b in zip(res["targetScores"], res["baselineScores"], strict=True)]
    assert all(abs(d) <= 0.05 * c for d, c in zip(res["deltas"], changes, strict=True))
    assert daemon.diagnostics[uri] == []
    assert len(daemon.inlay_hints(uri)) == 1  # replaced, not added


def test_sampling_method_warning_says_sampling_error_and_how_many_samples_meet_the_tolerance(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    rng = lsp_range((0, 0), (1, 16))
    res = daemon.attribute(
        uri, rng, method="gradient_shap", target={"kind": "generate", "maxNewTokens": 4}, options={"nSamples": 2}
    )
    daemon.settle()
    (diag,) = daemon.diagnostics[uri]
    assert diag.message.startswith("GradientSHAP: sampling error for ")
    assert "did not converge" not in diag.message and "Raise nSteps" not in diag.message
    # the advice, from the result's own numbers: n · (share / 5%)², rounded up to a multiple of 32
    changes = [f - b for f, b in zip(res["targetScores"], res["baselineScores"], strict=True)]
    worst = max(abs(d) / abs(c) for d, c in zip(res["deltas"], changes, strict=True))
    needed = 32 * math.ceil(2 * (worst / 0.05) ** 2 / 32)
    assert f"about {min(needed, 100_000)} samples would bring it within 5%" in diag.message
    assert any(n.startswith("sampling error: GradientSHAP is complete only in expectation") for n in res["notes"])


def test_empty_selection_is_bos_only(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    res = daemon.attribute(
        uri, lsp_range((2, 0), (2, 0)), target={"kind": "generate", "maxNewTokens": 2}, options={"nSteps": 4}
    )
    assert res["sourceTokens"] == [{"text": "<|endoftext|>", "range": None, "special": True}]
    assert all(len(row) == 1 + len(res["targetTokens"]) for row in res["scores"])
    (hint,) = daemon.inlay_hints(uri)
    assert (hint.position.line, hint.position.character) == (2, 0)


def test_clear_drops_hints_diagnostics_and_hover(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    daemon.attribute(
        uri, lsp_range((0, 0), (0, 14)), target={"kind": "generate", "maxNewTokens": 2}, options={"nSteps": 1}
    )
    daemon.settle()
    assert daemon.diagnostics[uri] and daemon.inlay_hints(uri) and daemon.hover(uri, 0, 1)
    assert daemon.call("tokenlight/clear", {"textDocument": {"uri": uri}}) is None
    daemon.settle()
    assert daemon.diagnostics[uri] == []
    assert daemon.inlay_hints(uri) == []
    assert daemon.hover(uri, 0, 1) is None


def test_forced_text_target(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    res = daemon.attribute(
        uri, lsp_range((0, 0), (0, 14)), target={"kind": "text", "text": "\n    return"}, options={"nSteps": 4}
    )
    assert "".join(t["text"] for t in res["targetTokens"]) == "\n    return"
    assert res["target"] == {"kind": "text", "text": "\n    return"}
    (hint,) = daemon.inlay_hints(uri)
    assert len(hint.label) == len(res["targetTokens"])


def test_deeplift_on_a_transformer_is_flagged_as_unreliable(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    res = daemon.call(
        "tokenlight/attribute",
        {
            "textDocument": {"uri": uri},
            "range": lsp_range((0, 0), (1, 16)),
            "method": "deeplift",
            "target": {"kind": "generate", "maxNewTokens": 2},
        },
    )
    assert res["warnings"] and "unreliable" in res["warnings"][0]
    daemon.settle()
    codes = {d.code: d for d in daemon.diagnostics[uri]}
    assert codes["reliability"].message == res["warnings"][0]
    assert codes["reliability"].severity == types.DiagnosticSeverity.Warning
    if "convergence" in codes:  # DeepLift has no steps: the advice must not say "raise nSteps"
        assert "nSteps" not in codes["convergence"].message


def test_sampling_options_reach_the_engine_and_are_reproducible(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)

    def run(seed: int) -> dict:
        return daemon.call(
            "tokenlight/attribute",
            {
                "textDocument": {"uri": uri},
                "range": lsp_range((0, 0), (1, 16)),
                "method": "gradient_shap",
                "target": {"kind": "text", "text": " x"},
                "options": {"nSamples": 6, "seed": seed},
            },
        )

    first, again, other = run(1), run(1), run(2)
    assert first["nSteps"] == 6  # the samples used
    assert first["scores"] == again["scores"] and first["scores"] != other["scores"]


def test_word_aggregation_gives_one_source_token_per_word(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, "name = '漢字'\n")
    res = daemon.call(
        "tokenlight/attribute",
        {
            "textDocument": {"uri": uri},
            "range": lsp_range((0, 0), (0, 11)),
            "target": {"kind": "text", "text": "x"},
            "options": {"aggregate": "word", "nSteps": 4},
        },
    )
    texts = [t["text"] for t in res["sourceTokens"]]
    assert "漢字" in texts  # six byte-level tokens, one word
    word = res["sourceTokens"][texts.index("漢字")]
    assert word["range"]["start"]["character"] == 8 and word["range"]["end"]["character"] == 10
    assert len(res["scores"][0]) == len(res["sourceTokens"]) + 1


def test_evaluate_over_lsp_and_in_the_hover_footer(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    res = daemon.attribute(
        uri,
        lsp_range((0, 0), (1, 16)),
        target={"kind": "text", "text": " a"},
        method="saliency",
        options={"evaluate": True, "randomOrders": 2},
    )
    faith = res["faithfulness"]
    assert faith["randomOrders"] == 2 and len(faith["targets"]) == 1 and len(faith["fractions"]) == 11
    assert res["sanity"] is None
    hover = daemon.hover(uri, 0, 5).contents.value
    assert "Faithfulness" in hover and "deletion AUC" in hover


def test_compare_over_lsp_lists_every_method(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    report = daemon.call(
        "tokenlight/compare",
        {
            "textDocument": {"uri": uri},
            "range": lsp_range((0, 0), (1, 16)),
            "target": {"kind": "text", "text": " a"},
            "methods": ["saliency", "occlusion", "nope"],
        },
    )
    assert [m["id"] for m in report["methods"]] == ["saliency", "occlusion", "nope"]
    assert report["methods"][2]["status"] == "refused"
    assert report["recommendation"]["method"] in ("saliency", "occlusion")
    assert len(report["agreement"]) == 1 and report["agreement"][0]["spearman"] is not None


def test_against_over_lsp_of_a_range_with_itself_is_zero(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    report = daemon.call(
        "tokenlight/against",
        {
            "textDocument": {"uri": uri},
            "range": lsp_range((0, 0), (0, 14)),
            "otherRange": lsp_range((0, 0), (0, 14)),
            "target": {"kind": "text", "text": "\n"},
            "method": "saliency",
        },
    )
    assert report["targetTokens"] == ["\n"] and report["aligned"]
    assert all(d == 0.0 for row in report["aligned"] for d in row["difference"])


def test_compare_and_against_refuse_bad_params_and_the_daemon_keeps_running(daemon, new_uri):
    import pytest
    from pygls.exceptions import JsonRpcException

    uri = new_uri()
    daemon.open(uri, SOURCE)
    base = {"textDocument": {"uri": uri}, "range": lsp_range((0, 0), (0, 14))}
    cases = [
        ("tokenlight/compare", {**base, "methods": "saliency"}, "'methods' must be a list"),
        ("tokenlight/compare", {**base, "method": "saliency"}, "give 'methods'"),
        ("tokenlight/compare", {**base, "options": {"randomOrders": -1}}, "randomOrders"),
        ("tokenlight/against", base, "'otherRange' is required"),
    ]
    for method, params, words in cases:
        with pytest.raises(JsonRpcException) as info:
            daemon.call(method, params)
        assert words in str(info.value)
    assert "model" in daemon.call("tokenlight/status", {})  # still answering
