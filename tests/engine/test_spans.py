"""Context at file scale: spans, span scores, span_occlusion, context_ablation, document context.

Expected values are independent of the code under test: literal leave-one-span-out loops over the
model's own forward, the analytic contributions of a model that is additive over its inputs, and
token sums computed here.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tokenlight import attribute
from tokenlight.engine import Attribution
from tokenlight.engine.errors import ContextLengthError, InputError
from tokenlight.engine.heads import CausalTargets
from tokenlight.engine.methods import AttributionProblem, get_method
from tokenlight.engine.spans import check_tiling
from tokenlight.engine.step_functions import get_step_function

SOURCE = '''import os


def parse_args(argv):
    """Parse 漢字 🎉."""
    return argv[1:]


class Foo:
    def bar(self):
        return 1

    def baz(self):
        x = 2
        return x
'''
GRANULARITIES = ("token", "word", "line", "block", "symbol")


def _embeddings(lm, res: Attribution) -> torch.Tensor:
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens[:-1]]
    with torch.no_grad():
        return lm.embedding(torch.tensor(ids)).detach()


def _logit(lm, emb: torch.Tensor, position: int, token: int) -> float:
    with torch.no_grad():
        return float(lm.model(inputs_embeds=emb[None]).logits[0, position, token])


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_spans_tile_the_context_and_cover_their_tokens(lm, granularity):
    res = attribute(lm, SOURCE, method="span_occlusion", granularity=granularity, target_text=" a", drill_down=0)
    check_tiling(res.spans, len(res.source_tokens))
    for span in res.spans:
        tokens = res.source_tokens[span.first : span.last + 1]
        if span.start is None:
            assert span.kind == "special" and len(tokens) == 1 and tokens[0].special
            continue
        assert span.start == tokens[0].start and span.end == tokens[-1].end
    if granularity == "line":
        lines = [s.label.split(":")[0] for s in res.spans if s.kind == "line"]
        assert lines[:3] == ["line 1", "line 3", "line 4"]  # a token holding "\n\n" starts on line 1's end
    assert res.span_scores.shape == (1, len(res.spans))


def test_symbols_from_python_ast_nest_and_tile(lm):
    res = attribute(lm, SOURCE, method="saliency", granularity="symbol", target_text=" a")
    labels = [s.label for s in res.spans]
    assert "def parse_args" in labels and "def Foo.bar" in labels and "def Foo.baz" in labels
    assert any(label.startswith("class Foo") for label in labels)
    kinds = {s.label: s.kind for s in res.spans}
    assert kinds["def parse_args"] == "function" and kinds["def Foo.bar"] == "method"
    assert not res.notes


def test_a_context_that_ends_inside_a_def_still_has_its_symbols(lm):
    text = SOURCE + "\ndef unfinished(a, b):\n    return a +"
    res = attribute(lm, text, method="saliency", granularity="symbol", target_text=" b")
    labels = [s.label for s in res.spans]
    assert "def unfinished" in labels and "def Foo.baz" in labels
    assert not res.notes


def test_symbol_on_a_syntax_error_falls_back_to_blocks_with_a_note(lm):
    broken = "def f(:\n    return 1\n\nx = [1, 2\n\ny = 3\n"
    res = attribute(lm, broken, method="saliency", granularity="symbol", target_text=" a")
    blocks = attribute(lm, broken, method="saliency", granularity="block", target_text=" a")
    assert [s.label for s in res.spans] == [s.label for s in blocks.spans]
    assert any("not parsable Python" in n and "syntax error at line" in n for n in res.notes)


def test_editor_symbols_are_used_when_given(lm):
    text = "fn main() {\n  let x = 1;\n}\n\nfn other() {}\n"
    symbols = [
        {"start": 0, "end": text.index("}\n") + 1, "kind": "function", "name": "main"},
        {"start": text.index("fn other"), "end": len(text) - 1, "kind": "function", "name": "other"},
    ]
    res = attribute(lm, text, method="saliency", granularity="symbol", target_text=" a", symbols=symbols)
    labels = [s.label for s in res.spans if s.kind != "special"]
    assert labels[0] == "main" and labels[-1] == "other"
    check_tiling(res.spans, len(res.source_tokens))


@pytest.mark.parametrize("granularity", ["line", "symbol"])
def test_gradient_span_scores_are_token_sums(lm, granularity):
    res = attribute(lm, SOURCE, method="integrated_gradients", n_steps=16, granularity=granularity, target_text=" a b")
    for i, span in enumerate(res.spans):
        expected = res.scores[:, span.first : span.last + 1].astype(np.float64).sum(axis=1)
        np.testing.assert_allclose(res.span_scores[:, i], expected, rtol=1e-5, atol=1e-6)
    # the spans add up to what the source tokens add up to (completeness carries over)
    np.testing.assert_allclose(
        res.span_scores.sum(axis=1), res.source_scores.astype(np.float64).sum(axis=1), rtol=1e-4, atol=1e-4
    )


def _logit_without_text(lm, res: Attribution, span, t: int) -> float:
    """Target t's logit with the span's text deleted from the prompt, the rest tokenised again (BOS
    first, left out too when the span is BOS), the forced targets after it: a literal loop."""
    prompt = res.prompt if span.start is None else res.prompt[: span.start] + res.prompt[span.end :]
    ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if span.start is not None:
        ids = [lm.tokenizer.bos_token_id, *ids]
    ids += [target.id for target in res.target_tokens[:t]]
    with torch.no_grad():
        return float(lm.model(input_ids=torch.tensor([ids])).logits[0, -1, res.target_tokens[t].id])


@pytest.mark.parametrize("ablation", ["replace", "remove"])
def test_span_occlusion_equals_a_literal_leave_one_span_out_loop(lm, ablation):
    res = attribute(
        lm, SOURCE, method="span_occlusion", granularity="line", ablation=ablation, target_text=" return x",
        drill_down=0,
    )  # fmt: skip
    emb = _embeddings(lm, res)
    s = len(res.source_tokens)
    for t, target in enumerate(res.target_tokens):
        full = _logit(lm, emb, s - 1 + t, target.id)
        for i, span in enumerate(res.spans):
            if ablation == "replace":
                without = emb.clone()
                without[span.first : span.last + 1] = 0.0  # the zero baseline, positions kept
                value = _logit(lm, without, s - 1 + t, target.id)
            else:
                value = _logit_without_text(lm, res, span, t)
            assert res.span_scores[t, i] == pytest.approx(full - value, abs=3e-5), (t, span.label)
    assert res.span_drilled is not None and not res.span_drilled.any()


def test_drill_down_scores_the_tokens_of_each_targets_top_spans(lm):
    res = attribute(lm, SOURCE, method="span_occlusion", granularity="line", target_text=" return", drill_down=2)
    emb = _embeddings(lm, res)
    s = len(res.source_tokens)
    target = res.target_tokens[0]
    full = _logit(lm, emb, s - 1, target.id)
    wide = [i for i, sp in enumerate(res.spans) if sp.last > sp.first]
    top = sorted(wide, key=lambda i: -abs(float(res.span_scores[0, i])))[:2]
    assert sorted(np.flatnonzero(res.span_drilled[0]).tolist()) == sorted(top)
    for i, span in enumerate(res.spans):
        for p in range(span.first, span.last + 1):
            if i in top:
                without = emb.clone()
                without[p] = 0.0
                assert res.scores[0, p] == pytest.approx(full - _logit(lm, without, s - 1, target.id), abs=3e-5)
            elif span.first == span.last:
                assert res.scores[0, p] == pytest.approx(float(res.span_scores[0, i]))
            else:
                assert res.scores[0, p] == 0.0


def test_span_occlusion_tells_each_forward_its_unchanged_prefix(tiny_gpt2):
    """Every batch passes ``unchanged_prefix=k`` with rows equal to the input before k, and the
    values with the promise (k) equal those without it (0): the contract a KV-cache reuse keeps."""
    lm = tiny_gpt2
    ids = lm.tokenizer(SOURCE[:120], add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        inputs = lm.embedding(torch.tensor(ids)).detach()
    targets = CausalTargets(lm.model, get_step_function("logit"), ids[-3:], None)
    seen: list[int] = []

    def recording(emb: torch.Tensor, *, unchanged_prefix: int = 0) -> list[torch.Tensor]:
        k = unchanged_prefix
        assert k > 0 and torch.equal(emb[:, :k], inputs[:k].expand(len(emb), -1, -1))
        seen.append(k)
        with_reuse = targets(emb, unchanged_prefix=k)
        without = targets(emb, unchanged_prefix=0)
        for a, b in zip(with_reuse, without, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        return with_reuse

    length = len(ids) - 2
    spans = tuple((a, min(a + 4, length - 1)) for a in range(1, length, 5))
    problem = AttributionProblem(
        target_fn=recording,
        inputs=inputs[:length],
        baselines=torch.zeros_like(inputs[:length]),
        n_targets=3,
        target_scores=torch.zeros(3, dtype=torch.float64),
        baseline_scores=torch.zeros(3, dtype=torch.float64),
        chunk_size=lambda n: 3,
        options={"drill_down": 0},
        target_positions=torch.arange(length - 3, length),
        spans=spans,
    )
    get_method("span_occlusion").attribute(problem)
    assert seen == sorted(seen) and seen[0] == 1 and len(seen) >= 3


def test_context_ablation_recovers_the_exact_span_contributions_of_an_additive_model(linear_lm):
    """logit_y(p) = Σ_{q ≤ p} ⟨W_y, e_q⟩ + c: a span's contribution is Σ_{q in span} ⟨W_y, e_q⟩."""
    text = "a = 1\nb = 2\n\nc = a + b\nprint(c)\n"
    res = attribute(linear_lm, text, method="context_ablation", granularity="line", target_text=" d", n_samples=32)
    model = linear_lm.model
    ids = torch.tensor([t.id for t in res.source_tokens])
    emb = model.embed.weight[ids].double()
    w = model.head[res.target_tokens[0].id].double()
    for i, span in enumerate(res.spans):
        expected = float(emb[span.first : span.last + 1].sum(0) @ w)
        assert res.span_scores[0, i] == pytest.approx(expected, rel=1e-4, abs=1e-4), span.label
    assert res.span_fit is not None and res.span_fit[0] == pytest.approx(1.0, abs=1e-6)
    occlusion = attribute(linear_lm, text, method="span_occlusion", granularity="line", target_text=" d")
    np.testing.assert_allclose(res.span_scores, occlusion.span_scores, rtol=1e-4, atol=1e-4)


def test_context_ablation_reports_its_held_out_fit_and_is_seeded(lm):
    one = attribute(lm, SOURCE, method="context_ablation", granularity="symbol", target_text=" a", seed=3)
    two = attribute(lm, SOURCE, method="context_ablation", granularity="symbol", target_text=" a", seed=3)
    assert one.span_fit is not None and one.span_fit.shape == (1,)
    np.testing.assert_array_equal(one.span_scores, two.span_scores)
    assert one.options["n_samples"] is None and one.n_steps == 64  # the default mask count


def test_a_document_longer_than_the_context_keeps_its_most_recent_tokens_with_a_note(tiny_gpt2):
    lines = [f"value_{i} = {i}\n" for i in range(40)]
    document = "".join(lines) + "total ="
    selection_start = len(document) - len("total =")
    res = attribute(
        tiny_gpt2, document, context="document", selection_start=selection_start, target_text=" 1", method="saliency",
        granularity="line",
    )  # fmt: skip
    limit = tiny_gpt2.context_length
    assert len(res.source_tokens) + 1 <= limit
    assert res.context_start > 0 and document[res.context_start - 1] == "\n"  # a whole first line
    assert res.source_tokens[-1].end == len(document)
    assert "the context starts at line" in res.notes[0]
    check_tiling(res.spans, len(res.source_tokens))
    with pytest.raises(ContextLengthError):
        attribute(tiny_gpt2, document, context="document", selection_start=0, target_text=" 1", method="saliency")
    with pytest.raises(ContextLengthError):  # a selection is never cut
        attribute(tiny_gpt2, document, target_text=" 1", method="saliency")


def test_bad_span_input_is_a_clear_error(lm):
    with pytest.raises(InputError, match="granularity='word'"):
        attribute(lm, SOURCE, method="saliency", granularity="line", aggregate="word", target_text=" a")
    with pytest.raises(InputError, match="context='document'"):
        attribute(lm, SOURCE, method="saliency", selection_start=3, target_text=" a")
    with pytest.raises(InputError, match="unknown granularity"):
        attribute(lm, SOURCE, method="saliency", granularity="paragraph", target_text=" a")


def test_spans_survive_msgpack_and_json(lm):
    res = attribute(lm, SOURCE, method="context_ablation", granularity="line", target_text=" a", n_samples=16)
    assert Attribution.from_msgpack(res.to_msgpack()) == res
    spans = res.to_json_dict()["spans"]
    assert len(spans) == len(res.spans)
    assert spans[1]["tokens"] == [res.spans[1].first, res.spans[1].last] and len(spans[1]["scores"]) == 1


@pytest.mark.parametrize("granularity", ["line", "block", "symbol"])
def test_lone_cr_and_crlf_break_lines_like_lf(lm, granularity):
    """LSP breaks lines at \\n, \\r\\n and a lone \\r: so do the spans (one set of lines for every style)."""
    lines = SOURCE.split("\n")
    by_ending = {}
    for ending in ("\n", "\r\n", "\r"):
        text = ending.join(lines)
        res = attribute(lm, text, method="saliency", granularity=granularity, target_text=" a")
        check_tiling(res.spans, len(res.source_tokens))
        # a literal line count for each span's start: the breaks before it
        starts = [text[: s.start].count(ending) for s in res.spans if s.start is not None]
        # the spans with text are the same whatever the style (spans of blank lines depend on whether
        # the tokenizer merges their breaks into one token: "\n\n" is one token, "\r\r" is not)
        by_ending[ending] = [s.label for s in res.spans if s.start is not None and text[s.start : s.end].strip()]
        for span, first in zip([s for s in res.spans if s.start is not None], starts, strict=True):
            if span.kind in ("line", "block"):
                # "line 4: def parse_args(argv):" or "lines 7–8": the span starts on a line it names
                found = re.match(r"lines? (\d+)(?:–(\d+))?", span.label)
                assert found, span
                a, b = int(found.group(1)), int(found.group(2) or found.group(1))
                assert a <= first + 1 <= b, span
    assert by_ending["\r"] == by_ending["\n"] == by_ending["\r\n"]
    if granularity == "symbol":
        assert "def Foo.bar" in by_ending["\r"]
