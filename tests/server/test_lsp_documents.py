"""Positions in UTF-16 with emoji, CJK and combining characters; following targets; results that
move with edits before them and are dropped by edits inside them."""

from __future__ import annotations

from lsp_harness import lsp_lines, lsp_range, text_at, utf16_units

# line 1 holds a 4-byte emoji (2 UTF-16 units), CJK (1 unit each, 3 UTF-8 bytes) and an "e" with a
# combining acute accent (two code points); the selection starts after a line and mid-line
UNICODE = 'print("start")\nname = "😋 漢字 e\u0301 🇫🇷"  # ok\nvalue = name * 2\n'


def test_utf16_ranges_map_back_to_token_text(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, UNICODE)
    line1 = UNICODE.splitlines()[1]
    end_units = utf16_units(line1)
    res = daemon.attribute(
        uri, lsp_range((1, 4), (1, end_units)), target={"kind": "generate", "maxNewTokens": 2}, options={"nSteps": 4}
    )
    sources = [t for t in res["sourceTokens"] if not t["special"]]
    for tok in sources:
        assert text_at(UNICODE, tok["range"]) == tok["text"], tok
    emoji = [t for t in sources if t["text"] == "😋"]
    assert emoji, "the emoji is split into byte-level tokens, each carrying the whole character"
    start = emoji[0]["range"]["start"]["character"]
    assert emoji[0]["range"]["end"]["character"] - start == 2  # a surrogate pair in UTF-16
    assert start == utf16_units(line1[: line1.index("😋")])
    cjk = next(t for t in sources if t["text"] == "字")
    assert cjk["range"]["end"]["character"] - cjk["range"]["start"]["character"] == 1
    # the last token ends exactly at the selection's end, in UTF-16 units
    assert sources[-1]["range"]["end"] == {"line": 1, "character": end_units}
    # the tokens cover the selection in order (byte pieces of one character repeat its range)
    distinct = dict.fromkeys(_range_key(t["range"]) for t in sources)
    assert "".join(text_at(UNICODE, _as_range(key)) for key in distinct) == line1[4:]


def _range_key(rng):
    return (rng["start"]["line"], rng["start"]["character"], rng["end"]["line"], rng["end"]["character"])


def _as_range(key):
    return {"start": {"line": key[0], "character": key[1]}, "end": {"line": key[2], "character": key[3]}}


def test_hover_on_characters_after_an_emoji(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, UNICODE)
    line1 = UNICODE.splitlines()[1]
    res = daemon.attribute(
        uri,
        lsp_range((1, 0), (1, utf16_units(line1))),
        target={"kind": "generate", "maxNewTokens": 1},
        options={"nSteps": 4},
    )
    column = utf16_units(line1[: line1.index("字")])
    hover = daemon.hover(uri, 1, column)
    # 字 is three byte pieces (E5 AD 97): the hovered one is named by its byte, never shown as U+FFFD
    assert hover is not None and hover.contents.value.startswith("**\\<0xE5\\>**")
    assert "byte-level tokens" in hover.contents.value
    assert (hover.range.start.character, hover.range.end.character) == (column, column + 1)
    assert res["id"]


def test_following_targets_have_document_ranges_and_hovers(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, UNICODE)
    line1 = UNICODE.splitlines()[1]
    res = daemon.attribute(
        uri, lsp_range((0, 0), (1, 7)), target={"kind": "following", "maxTokens": 5}, options={"nSteps": 8}
    )
    targets = res["targetTokens"]
    assert len(targets) == 5
    for tok in targets:
        assert tok["range"] is not None and text_at(UNICODE, tok["range"]) == tok["text"]
    assert targets[0]["range"]["start"] == {"line": 1, "character": 7}
    assert res["target"]["kind"] == "following" and line1[7:].startswith(res["target"]["text"])
    assert daemon.inlay_hints(uri) == []  # the targets are in the document already: no ghost text

    rng = targets[1]["range"]
    hover = daemon.hover(uri, rng["start"]["line"], rng["start"]["character"])
    assert hover is not None
    value = hover.contents.value
    assert "target 1 of 5" in value and "probability" in value
    assert "f(x) − f(x′) =" in value and "delta" in value and "Top source tokens" in value
    assert f"{targets[1]['probability']:.6g}" in value


def test_edit_before_a_result_moves_it(daemon, new_uri):
    uri = new_uri()
    text = "# header\ndef add(a, b):\n    return a + b\n"
    daemon.open(uri, text)
    res = daemon.attribute(
        uri, lsp_range((1, 0), (1, 14)), target={"kind": "generate", "maxNewTokens": 2}, options={"nSteps": 1}
    )
    daemon.settle()
    assert daemon.diagnostics[uri][0].range.start.line == 1
    # insert two lines and a wide character above the result
    edited = "# header 😋\n\n\n" + text.split("\n", 1)[1]
    daemon.edit(uri, (0, 8), (0, 8), " 😋\n\n", edited)
    (hint,) = daemon.inlay_hints(uri)
    assert (hint.position.line, hint.position.character) == (3, 14)
    hover = daemon.hover(uri, 3, 5)
    assert hover is not None and hover.contents.value.startswith("**·add**")
    daemon.settle()
    (diag,) = daemon.diagnostics[uri]
    assert (diag.range.start.line, diag.range.end.line, diag.range.end.character) == (3, 3, 14)
    # an edit on the same line, before the selection's start, shifts columns
    edited2 = edited.replace("def add", "  def add", 1)
    daemon.edit(uri, (3, 0), (3, 0), "  ", edited2)
    (hint,) = daemon.inlay_hints(uri)
    assert (hint.position.line, hint.position.character) == (3, 16)
    assert res["id"]


def test_edit_inside_a_result_drops_it_with_hints_and_diagnostics(daemon, new_uri):
    uri = new_uri()
    text = "def add(a, b):\n    return a + b\n"
    daemon.open(uri, text)
    res = daemon.attribute(
        uri, lsp_range((0, 0), (0, 14)), target={"kind": "generate", "maxNewTokens": 2}, options={"nSteps": 1}
    )
    daemon.settle()
    assert daemon.diagnostics[uri] and daemon.inlay_hints(uri)
    daemon.edit(uri, (0, 4), (0, 7), "plus", text.replace("add", "plus", 1))
    daemon.settle()
    assert daemon.diagnostics[uri] == []
    assert daemon.inlay_hints(uri) == []
    assert daemon.hover(uri, 0, 5) is None
    error = _focus_error(daemon, res["id"])
    assert "dropped when its text was edited" in error


def test_edit_after_the_selection_keeps_a_generated_result_but_drops_a_following_one(daemon, new_uri):
    uri = new_uri()
    text = "def add(a, b):\n    return a + b\n"
    daemon.open(uri, text)
    rng = lsp_range((0, 0), (0, 14))
    generated = daemon.attribute(uri, rng, target={"kind": "generate", "maxNewTokens": 2}, options={"nSteps": 4})
    daemon.edit(uri, (1, 15), (1, 16), "c", text.replace("a + b", "a + c"))
    assert daemon.hover(uri, 0, 1) is not None and len(daemon.inlay_hints(uri)) == 1
    following = daemon.attribute(uri, rng, target={"kind": "following", "maxTokens": 3}, options={"nSteps": 4})
    assert daemon.inlay_hints(uri) == []  # the following result replaced the generated one
    # typing inside the attributed following text ("\n    return") drops it
    daemon.edit(uri, (1, 4), (1, 4), "x", text.replace("a + b", "a + c").replace("    return", "    xreturn"))
    assert daemon.hover(uri, 0, 1) is None
    assert generated["id"] != following["id"]


def _focus_error(daemon, result_id: str) -> str:
    from pygls.exceptions import JsonRpcException

    try:
        daemon.call("tokenlight/focus", {"id": result_id, "target": 0})
    except JsonRpcException as exc:
        return exc.message
    raise AssertionError("focus on a dropped result should fail")


def test_lines_are_counted_as_the_editor_counts_them(daemon, new_uri):
    """LSP breaks lines at \\n, \\r\\n and \\r only. A form feed (a page break in Python sources),
    U+2028 or NEL is not a line break to the editor: an incremental edit on a line after them lands
    where the editor made it, and the result's ranges name the editor's lines."""
    uri = new_uri()
    text = "import os\x0c\n\x0cdef f():\u2028    return 1\x85\nvalue = f()\n"
    daemon.open(uri, text)
    edited = text.replace("value = f()", "new_value = f()")
    daemon.edit(uri, (2, 0), (2, 0), "new_", edited)  # line 2 as the editor counts: "value = f()"
    line = "new_value = f()"
    res = daemon.attribute(
        uri, lsp_range((2, 0), (2, len(line))), target={"kind": "generate", "maxNewTokens": 1}, method="saliency"
    )
    sources = [t for t in res["sourceTokens"] if not t["special"]]
    assert "".join(t["text"] for t in sources) == line
    for tok in sources:
        assert tok["range"]["start"]["line"] == 2 and text_at(edited, tok["range"]) == tok["text"], tok
    hover = daemon.hover(uri, 2, line.index("f()"))
    assert hover is not None and hover.range.start.line == 2


def test_the_daemon_names_every_result_it_drops(daemon, new_uri):
    """tokenlight/resultsDropped: the client keeps its own copies for colours and must never guess."""
    uri = new_uri()
    text = "a = 1\nb = 2\nc = 3\n"
    daemon.open(uri, text)
    quick = {"target": {"kind": "generate", "maxNewTokens": 1}, "options": {"nSteps": 4}}
    first = daemon.attribute(uri, lsp_range((0, 0), (0, 5)), **quick)["id"]
    second = daemon.attribute(uri, lsp_range((2, 0), (2, 5)), **quick)["id"]
    replacing = daemon.attribute(uri, lsp_range((0, 2), (1, 5)), **quick)["id"]  # overlaps the first
    daemon.edit(uri, (2, 4), (2, 5), "4", "a = 1\nb = 2\nc = 4\n")  # inside the second's text
    daemon.call("tokenlight/clear", {"textDocument": {"uri": uri}})
    daemon.settle()
    mine = [(d["ids"], d["reason"]) for d in daemon.dropped if d["uri"] == uri]
    assert mine == [([first], "replaced"), ([second], "edited"), ([replacing], "cleared")]


def test_an_edit_past_the_end_of_a_line_lands_at_its_end(daemon, new_uri):
    """LSP: a character past the end of its line means the line's end. Such an edit (a client that
    counts a CRLF's \\r as a column, or says "to the end of the line" with a large number) must land
    where the editor put it: not inside a CRLF, not one character early, not after the line break;
    the daemon's copy of the text and its stored results then agree with the editor."""
    uri = new_uri()
    text = "a = 1\r\nb = 2\r\nc = 3"
    daemon.open(uri, text)
    quick = {"target": {"kind": "generate", "maxNewTokens": 1}, "method": "saliency"}
    kept = daemon.attribute(uri, lsp_range((2, 0), (2, 5)), **quick)["id"]
    edits = [  # every position past its line's end, which LSP reads as the line's end
        ((0, 6), (0, 6), " # one"),  # one past "a = 1": between the \r and \n to a client counting the \r
        ((1, 5), (1, 99), " + 0"),  # "to the end of the line"
        ((2, 99), (2, 99), "4"),  # the last line, which has no line break (the result before it stays)
    ]
    for start, end, new_text in edits:
        lines = lsp_lines(text)
        at = [sum(map(len, lines[:line])) + min(char, len(lines[line].rstrip("\r\n"))) for line, char in (start, end)]
        text = text[: at[0]] + new_text + text[at[1] :]
        daemon.edit(uri, start, end, new_text, text)
    assert text == "a = 1 # one\r\nb = 2 + 0\r\nc = 34"
    hover = daemon.hover(uri, 2, 0)  # the kept result's first token, still on its line
    assert hover is not None and hover.range is not None
    assert (hover.range.start.line, hover.range.start.character) == (2, 0)
    assert not [d for d in daemon.dropped if d["uri"] == uri and kept in d["ids"]]
    for line, content in enumerate(("a = 1 # one", "b = 2 + 0", "c = 34")):
        res = daemon.attribute(uri, lsp_range((line, 0), (line, len(content))), **quick)
        sources = [t for t in res["sourceTokens"] if not t["special"]]
        assert "".join(t["text"] for t in sources) == content
        for tok in sources:
            assert text_at(text, tok["range"]) == tok["text"], tok
