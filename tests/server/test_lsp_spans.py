"""Spans over LSP: ``context: document`` and ``granularity`` return spans with UTF-16 ranges."""

from __future__ import annotations

import pytest
from lsp_harness import lsp_lines, lsp_range, text_at

DOCUMENT = (
    "# 漢字のコメント\n"
    "greeting = '🎉 party 🎉'\n"
    "\n"
    "def shout(text):\n"
    "    return text.upper() + '🚀'\n"
    "\n"
    "values = [shout(greeting), '中文']\n"
    "print(values)\n"
)


def _line_of(document: str, rng: dict) -> int:
    return rng["start"]["line"]


def test_document_context_line_spans_have_utf16_ranges(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, DOCUMENT)
    lines = lsp_lines(DOCUMENT)
    # the selection is line 7 only; the context is the document from its start to the selection's end
    res = daemon.attribute(
        uri,
        lsp_range((6, 0), (6, len("values = [shout(greeting), '中文']".encode("utf-16-le")) // 2)),
        method="span_occlusion",
        target={"kind": "generate", "maxNewTokens": 2},
        options={"context": "document", "granularity": "line", "drillDown": 1},
    )
    spans = [s for s in res["spans"] if s["kind"] != "special"]
    assert [s["kind"] for s in spans] == ["line"] * len(spans)
    covered = {_line_of(DOCUMENT, s["range"]) for s in spans}
    assert covered == {0, 1, 2, 3, 4, 5, 6}  # every line up to the selection, none after it
    for span in spans:
        first, last = span["tokens"]
        tokens = res["sourceTokens"][first : last + 1]
        # the range runs from its first token's start to its last token's end, and every token
        # starts on the span's line (a token holding "\n" and the next indentation ends past it)
        assert span["range"]["start"] == tokens[0]["range"]["start"]
        assert span["range"]["end"] == tokens[-1]["range"]["end"]
        line = _line_of(DOCUMENT, span["range"])
        assert {t["range"]["start"]["line"] for t in tokens} == {line}
        assert text_at(DOCUMENT, span["range"]).split("\n")[0] in lines[line]
        assert len(span["scores"]) == len(res["targetTokens"])
        assert len(span["drilled"]) == len(res["targetTokens"])
    emoji = next(s for s in spans if _line_of(DOCUMENT, s["range"]) == 1)
    assert "🎉 party 🎉" in text_at(DOCUMENT, emoji["range"])
    cjk = next(s for s in spans if _line_of(DOCUMENT, s["range"]) == 6)
    assert text_at(DOCUMENT, cjk["range"]).startswith("values = [shout(greeting), '中文']")
    assert res["contextStart"] is None and res["spanFit"] is None


def test_token_methods_sum_into_symbol_spans_from_the_editor(daemon, new_uri):
    uri = new_uri()
    text = "fn main() {\n  let x = '🎉';\n}\n\nfn other() {\n  x\n"
    daemon.open(uri, text)
    symbols = [
        {"name": "main", "kind": "function", "range": lsp_range((0, 0), (2, 1))},
        {"name": "other", "kind": "function", "range": lsp_range((4, 0), (5, 3))},
    ]
    res = daemon.attribute(
        uri,
        lsp_range((5, 0), (5, 3)),
        method="saliency",
        target={"kind": "generate", "maxNewTokens": 2},
        options={"context": "document", "granularity": "symbol"},
        symbols=symbols,
    )
    labels = [s["label"] for s in res["spans"] if s["kind"] != "special"]
    assert labels[0] == "main" and labels[-1] == "other"
    for span in res["spans"]:
        first, last = span["tokens"]
        for t in range(len(res["targetTokens"])):
            row = res["scores"][t][first : last + 1]
            assert span["scores"][t] == pytest.approx(sum(row), rel=1e-5, abs=1e-6)


def test_bad_symbols_are_invalid_params(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, DOCUMENT)
    with pytest.raises(Exception, match="symbols"):
        daemon.attribute(uri, lsp_range((0, 0), (1, 0)), method="saliency", symbols=[{"name": 3}])
    with pytest.raises(Exception, match="symbols must be a list"):
        daemon.attribute(uri, lsp_range((0, 0), (1, 0)), method="saliency", symbols="main")


def test_a_long_document_is_cut_to_the_model_with_the_context_start(daemon, new_uri):
    uri = new_uri()
    text = "".join(f"v{i} = '🎉{i}'\n" for i in range(400)) + "total ="
    daemon.open(uri, text)
    res = daemon.attribute(
        uri,
        lsp_range((400, 0), (400, 7)),
        method="saliency",
        target={"kind": "generate", "maxNewTokens": 2},
        options={"context": "document", "granularity": "line"},
    )
    start = res["contextStart"]
    assert start is not None and start["line"] > 0 and start["character"] == 0  # a whole first line
    assert f"line {start['line'] + 1}" in res["notes"][0]
    first_span = next(s for s in res["spans"] if s["kind"] != "special")
    assert first_span["range"]["start"] == start
    assert text_at(text, res["spans"][-1]["range"]) == "total ="


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_line_spans_agree_with_lsp_lines_for_every_line_break(daemon, new_uri, ending):
    """The engine breaks lines where LSP does (a lone \\r too): each line span's range starts on its
    own line and covers that line's text."""
    text = ending.join(["# 漢字", "x = '🎉'", "", "def f(a):", "    return a", "y = f(x)"])
    uri = new_uri()
    daemon.open(uri, text)
    lines = lsp_lines(text)
    last = len(lines) - 1
    res = daemon.attribute(
        uri,
        lsp_range((last, 0), (last, len(lines[last]))),
        method="saliency",
        target={"kind": "generate", "maxNewTokens": 1},
        options={"context": "document", "granularity": "line"},
    )
    spans = [s for s in res["spans"] if s["kind"] == "line"]
    named = {int(s["label"].split(":")[0].split()[1]) - 1: s for s in spans}
    assert {0, 1, 3, 4, 5} <= set(named)  # every line with text has its span
    for line, span in named.items():
        assert span["range"]["start"]["line"] == line
        assert lines[line].strip() in text_at(text, span["range"])  # the span holds its line's text
