"""Renderers: terminal colours and table, HTML structure and escaping, the diverging palette.

Every Attribution here is built by hand (no torch, no model) with known scores, so each check is
on a value that can be worked out on paper.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from tokenlight.engine.methods import get_method
from tokenlight.engine.result import Attribution, ModelInfo
from tokenlight.engine.tokens import Token
from tokenlight.render import diverging_rgb, render_html, render_terminal
from tokenlight.render.colors import (
    NAN_GREY,
    delta_flagged,
    normalisation_scale,
    piece_score,
    prompt_pieces,
    text_rgb,
)

NAN = math.nan
BOS = "<|endoftext|>"
EVIL = "<img src=x onerror=alert(1)>"


def build(
    prompt_tokens: list[str],
    target_texts: list[str],
    scores: list[list[float]],
    *,
    probabilities: list[float] | None = None,
    deltas: list[float] | None = None,
    target_scores: list[float] | None = None,
    baseline_scores: list[float] | None = None,
    notes: list[str] | None = None,
) -> Attribution:
    """An Attribution with a BOS special token first, then ``prompt_tokens`` spanning the prompt;
    each target marked converged or not by the engine's own rule, as ``attribute()`` does."""
    source = [Token(BOS, 0, None, None, True)]
    pos = 0
    for i, text in enumerate(prompt_tokens, start=1):
        source.append(Token(text, i, pos, pos + len(text), False))
        pos += len(text)
    n_t = len(target_texts)
    probabilities = probabilities or [0.5] * n_t
    targets = []
    tpos = 0
    for j, (text, p) in enumerate(zip(target_texts, probabilities, strict=True)):
        targets.append(Token(text, 100 + j, tpos, tpos + len(text), False, p))
        tpos += len(text)
    res = Attribution(
        prompt="".join(prompt_tokens),
        source_tokens=source,
        target_tokens=targets,
        scores=np.array(scores, dtype=np.float32),
        deltas=None if deltas is None else np.array(deltas, dtype=np.float32),
        target_scores=np.array(target_scores or [0.0] * n_t, dtype=np.float32),
        baseline_scores=None if baseline_scores is None else np.array(baseline_scores, dtype=np.float32),
        model=ModelInfo("tiny-gpt", "cpu", "float32"),
        method="integrated_gradients",
        step_function="log_prob",
        baseline="pad",
        n_steps=32,
        elapsed_ms=1.5,
        continuation="".join(target_texts),
        notes=notes or [],
    )
    return mark_convergence(res)


def mark_convergence(res: Attribution) -> Attribution:
    """``res.converged`` from its deltas by Integrated Gradients' rule (the engine owns the rule)."""
    if res.deltas is None or res.baseline_scores is None:
        res.converged = None
        return res
    ok = get_method("integrated_gradients").converged(
        torch.from_numpy(res.deltas).double(),
        torch.from_numpy(res.target_scores).double(),
        torch.from_numpy(res.baseline_scores).double(),
    )
    res.converged = ok.numpy()
    return res


@pytest.fixture
def res() -> Attribution:
    # summed source scores: BOS 0.2-0.1=+0.1, "def" 0.6+0.3=+0.9, " add" -0.9-0.2=-1.1
    # f(x)-f(x'): target 0: 2.0 (5% = 0.1, delta 0.05 -> fine); target 1: 0.5 (5% = 0.025, delta 0.03 -> !)
    return build(
        ["def", " add"],
        ["(", "a"],
        [[0.2, 0.6, -0.9, NAN, NAN], [-0.1, 0.3, -0.2, 0.5, NAN]],
        probabilities=[0.8125, 0.0625],
        deltas=[0.05, 0.03],
        target_scores=[-1.0, -2.0],
        baseline_scores=[-3.0, -2.5],
        notes=["the BOS token is attributed too", "second note"],
    )


# ---------------------------------------------------------------------------------------------- terminal
_CHIP = re.compile(r"\x1b\[48;2;(\d+);(\d+);(\d+)m(?:\x1b\[[0-9;]*m)*([^\x1b]*)\x1b\[0m")
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def chip_colours(text: str) -> dict[str, tuple[int, int, int]]:
    """Map each background-coloured chunk of text to its (R, G, B) background."""
    return {m.group(4): (int(m.group(1)), int(m.group(2)), int(m.group(3))) for m in _CHIP.finditer(text)}


def prompt_line(out: str) -> str:
    """The first line containing the coloured prompt (header, blank, prompt)."""
    return out.split("\n")[2]


def is_orange(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] > rgb[2]


def is_blue(rgb: tuple[int, int, int]) -> bool:
    return rgb[2] > rgb[0]


def table_rows(out: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(0) for m in re.finditer(r"^(\d+)  .*$", out, flags=re.M)}


def test_terminal_header_has_the_run_metadata(res: Attribution) -> None:
    header = render_terminal(res, color=False).split("\n")[0]
    for part in ("tiny-gpt", "cpu", "float32", "integrated_gradients", "log_prob", "pad", "32"):
        assert part in header
    res.contrast_token = " b"
    assert "' b'" in render_terminal(res, color=False).split("\n")[0]


def test_terminal_colours_keep_the_sign(res: Attribution) -> None:
    out = render_terminal(res, color=True)
    assert "\x1b[48;2;" in out
    chips = chip_colours(prompt_line(out))
    assert is_orange(chips["def"]), chips
    assert is_blue(chips[" add"]), chips
    assert chips["def"] != chips[" add"]
    # " add" has the largest |summed score| (1.1): it sets the scale and is fully saturated
    assert chips[" add"] == diverging_rgb(-1.0, 1.0)
    # the special token is shown by its spelling, dimmed
    assert f"⟨{BOS}⟩" in chips
    assert "\x1b[2m" in prompt_line(out)
    # and the continuation follows in its own style (italic + underline)
    assert "\x1b[3;4m(a\x1b[0m" in out


def test_terminal_focus_uses_that_row(res: Attribution) -> None:
    bos = f"⟨{BOS}⟩"
    summed = chip_colours(prompt_line(render_terminal(res)))
    row0 = chip_colours(prompt_line(render_terminal(res, focus=0)))
    row1 = chip_colours(prompt_line(render_terminal(res, focus=1)))
    assert is_orange(summed[bos]) and is_orange(row0[bos])  # +0.1, +0.2
    assert is_blue(row1[bos])  # -0.1
    # row 0's scale is 0.9, so " add" (-0.9) saturates; in row 1 (scale 0.5) it is -0.2 -> paler
    assert row0[" add"] == diverging_rgb(-1.0, 1.0)
    assert row1[" add"] == diverging_rgb(-0.2, 0.5)
    with pytest.raises(ValueError, match="focus"):
        render_terminal(res, focus=2)


def test_terminal_without_colour_has_no_escapes(res: Attribution) -> None:
    out = render_terminal(res, color=False)
    assert "\x1b" not in out
    assert f"⟨{BOS}⟩[+0.1]|def[+0.9]| add[-1.1]" in out
    assert "numbers are raw" in out


def test_terminal_legend_names_the_scale(res: Attribution) -> None:
    out = render_terminal(res, color=True)
    legend = next(line for line in out.split("\n") if line.startswith("legend"))
    plain = _SGR.sub("", legend)
    assert "blue" in plain and "orange" in plain
    assert "±1.1" in plain
    assert "colours are relative to the largest |score| shown; numbers are raw" in plain


def test_terminal_neutralises_escape_sequences_in_tokens() -> None:
    evil = build(
        ["x", "\x1b[31m", "\rback", "\x9b2J"],
        ["\x1b]0;pwned\x07"],
        [[0.1, 0.2, -0.3, 0.4, 0.5, NAN]],
        notes=["note with \x1b[2J inside"],
    )
    evil.model = ModelInfo("model\x1b[5m", "cpu", "float32")
    for color in (True, False):
        out = render_terminal(evil, color=color)
        assert "\x1b[31m" not in out
        assert "\x1b]" not in out
        assert "\x1b[2J" not in out
        assert "\x1b[5m" not in out
        assert "\r" not in out and "\x9b" not in out and "\x07" not in out
        # every escape left is one of the renderer's own SGR codes
        leftovers = _SGR.sub("", out)
        assert "\x1b" not in leftovers
        assert "␛[31m" in out
        assert "␍back" in out
    plain = render_terminal(evil, color=False)
    assert "'\\x1b[31m'" in plain  # the table shows repr()


def test_terminal_table_numbers_and_flag(res: Attribution) -> None:
    out = render_terminal(res, color=False)
    rows = table_rows(out)
    assert set(rows) == {0, 1}
    # probability, f(x), f(x'), delta for each target
    cells0 = rows[0].split()
    cells1 = rows[1].split()
    assert cells0[:6] == ["0", "'('", "0.8125", "-1", "-3", "+0.05"]
    assert cells1[:6] == ["1", "'a'", "0.0625", "-2", "-2.5", "+0.03"]
    # |0.05| <= 5% of 2.0 -> no flag; |0.03| > 5% of 0.5 -> flag
    assert cells0[6] != "!"
    assert cells1[6] == "!"
    assert "did not converge" in out and "raise n_steps" in out
    # top contributors by |score|, signed: target 0: ' add' -0.9, 'def' +0.6, BOS +0.2
    assert "' add' -0.9, 'def' +0.6, '<|endoftext|>' +0.2" in rows[0]
    # target 1 may also draw on the earlier target '('
    assert rows[1].endswith("'(' +0.5, 'def' +0.3, ' add' -0.2")
    # notes each on their own line
    assert "note: the BOS token is attributed too\nnote: second note\n" in out


def test_terminal_flag_absent_when_converged(res: Attribution) -> None:
    res.deltas = np.array([0.05, 0.02], dtype=np.float32)  # 0.02 <= 0.025
    out = render_terminal(mark_convergence(res), color=False)
    assert all("!" not in row for row in table_rows(out).values())
    assert "did not converge" not in out


def test_terminal_without_baseline_or_delta_shows_dashes(res: Attribution) -> None:
    res.deltas = None
    res.baseline_scores = None
    rows = table_rows(render_terminal(res, color=False))
    assert rows[0].split()[3:6] == ["-1", "–", "–"]


@pytest.mark.parametrize(
    ("delta", "fx", "fx_base", "converged"),
    [
        (1.0, 0.0, -20.0, True),  # exactly 5%: converged
        (1.001, 0.0, -20.0, False),
        (-1.001, 0.0, -20.0, False),
        (0.0, 1.0, 1.0, True),
        (1e-9, 1.0, 1.0, True),  # no change to add up to, and a rounding-size delta: fine
        (1e-5, 1.0, 1.0, False),
        (NAN, 0.0, -1.0, False),  # a NaN delta is never a converged one
    ],
)
def test_the_engine_owns_the_convergence_rule(delta: float, fx: float, fx_base: float, converged: bool) -> None:
    ok = get_method("integrated_gradients").converged(
        torch.tensor([delta], dtype=torch.float64),
        torch.tensor([fx], dtype=torch.float64),
        torch.tensor([fx_base], dtype=torch.float64),
    )
    assert bool(ok[0]) is converged


def test_renderers_flag_exactly_the_targets_the_engine_marked(res: Attribution) -> None:
    res.converged = np.array([False, True])  # the opposite of what the deltas alone would suggest
    assert [delta_flagged(res, k) for k in range(2)] == [True, False]
    rows = table_rows(render_terminal(res, color=False))
    assert rows[0].split()[6] == "!" and rows[1].split()[6] != "!"
    res.converged = None  # a method without a delta
    assert not any(delta_flagged(res, k) for k in range(2))


# ---------------------------------------------------------------------------------------------- HTML
class Page(HTMLParser):
    """Collects what a browser would see as markup: tags, attributes, and heatmap cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.body_rows: list[list[dict]] = []
        self.head_cells: list[str] = []
        self._section: str | None = None
        self._cell: dict | None = None
        self._th: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.starts.append((tag, a))
        if tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self.body_rows.append([])
        elif tag == "td" and self._section == "tbody":
            self._cell = {"attrs": a, "text": ""}
            self.body_rows[-1].append(self._cell)
        elif tag == "th" and self._section == "thead":
            self._th = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("thead", "tbody"):
            self._section = None
        elif tag == "td":
            self._cell = None
        elif tag == "th" and self._th is not None:
            self.head_cells.append("".join(self._th))
            self._th = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data
        if self._th is not None:
            self._th.append(data)

    def tags(self) -> set[str]:
        return {t for t, _ in self.starts}


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


def test_html_is_standalone_with_a_strict_csp(res: Attribution) -> None:
    page = render_html(res)
    assert page.startswith("<!DOCTYPE html>")
    p = parse(page)
    assert "script" not in p.tags()
    csp = [a for t, a in p.starts if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1
    assert csp[0]["content"] == "default-src 'none'; style-src 'unsafe-inline'"
    # nothing is loaded from anywhere, and no event handlers
    for _, attrs in p.starts:
        assert not {"src", "href"} & set(attrs)
        assert not any(name.startswith("on") for name in attrs)
    assert ":hover" in page


def test_html_header_and_notes(res: Attribution) -> None:
    text = "".join(parse(render_html(res)).text)
    for part in ("tiny-gpt", "cpu", "float32", "integrated_gradients", "log_prob", "pad", "32"):
        assert part in text
    assert "the BOS token is attributed too" in text and "second note" in text


def test_html_heatmap_shape_and_nan_cells(res: Attribution) -> None:
    p = parse(render_html(res))
    n_src, n_tgt = len(res.source_tokens), len(res.target_tokens)
    assert len(p.body_rows) == n_tgt
    assert all(len(row) == n_src + n_tgt for row in p.body_rows)
    # header: a corner cell, then one label per position
    assert p.head_cells[1:] == [f"'{BOS}'", "'def'", "' add'", "'('", "'a'"]
    for k, row in enumerate(p.body_rows):
        for col, cell in enumerate(row):
            value = float(res.scores[k, col])
            if math.isnan(value):
                assert cell["text"] == ""
                assert "title" not in cell["attrs"]
                assert not re.search(r"\d", cell["text"])
            else:
                title = cell["attrs"]["title"]
                assert title.startswith(f"score {res.scores[k, col]!s} — target ")
                assert float(cell["text"]) == pytest.approx(value, rel=1e-3)
                assert "background:#" in cell["attrs"]["style"]
    # the causal boundary: target 0 has 3 scored cells, target 1 has 4
    assert [sum(c["text"] != "" for c in row) for row in p.body_rows] == [3, 4]
    title = p.body_rows[1][3]["attrs"]["title"]
    assert title == "score 0.5 — target 'a' ← target '('"


def test_html_cells_are_coloured_by_raw_score_on_one_scale(res: Attribution) -> None:
    p = parse(render_html(res))
    scale = normalisation_scale(res.scores)
    assert scale == pytest.approx(0.9)
    cell = p.body_rows[0][2]  # -0.9: the largest |score|, saturated blue
    r, g, b = diverging_rgb(-0.9, scale)
    assert f"background:#{r:02x}{g:02x}{b:02x}" in cell["attrs"]["style"]
    assert (r, g, b) == diverging_rgb(-1.0, 1.0)


def test_html_prompt_spans_have_summed_tooltips(res: Attribution) -> None:
    p = parse(render_html(res))
    spans = [a for t, a in p.starts if t == "span" and (a.get("class") or "").startswith("tok")]
    assert len(spans) == 3
    assert spans[1]["title"].startswith("summed score 0.9")  # "def"
    assert "→ target 0 '(': +0.6" in spans[1]["title"]
    assert "→ target 1 'a': +0.3" in spans[1]["title"]
    assert is_orange(_hex_rgb(spans[1]["style"])) and is_blue(_hex_rgb(spans[2]["style"]))


def _hex_rgb(style: str) -> tuple[int, int, int]:
    h = re.search(r"background:#([0-9a-f]{6})", style).group(1)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def test_html_escapes_markup_in_tokens_and_strings() -> None:
    evil = build(
        ["x ", EVIL],
        ["<script>alert(2)</script>", "\"'><b>"],
        [[0.1, 0.2, -0.3, NAN, NAN], [0.1, 0.2, 0.3, 0.4, NAN]],
        notes=["<script>alert(3)</script>"],
    )
    evil.model = ModelInfo("<iframe src=//x>", "cpu", "float32")
    page = render_html(evil)
    p = parse(page)
    assert not {"img", "script", "iframe", "b"} & p.tags()
    text = "".join(p.text)
    assert EVIL in text  # shown as text
    assert "<script>alert(2)</script>" in text
    assert "<iframe src=//x>" in text
    assert EVIL not in page and "<script" not in page  # only in escaped form in the source
    for _, attrs in p.starts:
        assert not any(name.startswith("on") for name in attrs)


# ---------------------------------------------------------------------------------------------- colours
def test_diverging_rgb_zero_is_near_white() -> None:
    assert all(c >= 240 for c in diverging_rgb(0.0, 1.0))
    assert diverging_rgb(0.0, 1.0) == diverging_rgb(-0.0, 5.0)


def test_diverging_rgb_sign_gives_different_hues() -> None:
    for v in (0.05, 0.3, 0.7, 1.0):
        pos, neg = diverging_rgb(v, 1.0), diverging_rgb(-v, 1.0)
        assert is_orange(pos) and is_blue(neg)


def test_diverging_rgb_saturates_at_the_scale() -> None:
    assert diverging_rgb(2.0, 2.0) == diverging_rgb(9.0, 2.0) == diverging_rgb(math.inf, 2.0)
    assert diverging_rgb(-2.0, 2.0) == diverging_rgb(-9.0, 2.0)
    assert diverging_rgb(1.0, 2.0) != diverging_rgb(2.0, 2.0)
    # intensity grows with |value|: the distance from white increases monotonically
    white = np.array(diverging_rgb(0.0, 1.0))
    dist = [np.abs(np.array(diverging_rgb(v, 1.0)) - white).sum() for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert dist == sorted(dist) and dist[0] == 0 < dist[1]


def test_diverging_rgb_nan_is_grey_and_bad_scale_is_safe() -> None:
    grey = diverging_rgb(NAN, 1.0)
    assert grey == NAN_GREY and grey[0] == grey[1] == grey[2]
    assert grey != diverging_rgb(0.0, 1.0)
    assert diverging_rgb(0.5, 0.0) == diverging_rgb(0.5, 1.0)
    assert diverging_rgb(0.5, NAN) == diverging_rgb(0.5, 1.0)


def test_normalisation_scale() -> None:
    assert normalisation_scale(np.array([[NAN, -3.0, 2.0]])) == 3.0
    assert normalisation_scale(np.array([np.inf, -0.5])) == 0.5
    assert normalisation_scale(np.array([NAN, NAN])) == 1.0
    assert normalisation_scale(np.zeros((2, 3))) == 1.0
    assert normalisation_scale(np.zeros((0, 3))) == 1.0


def test_text_colour_is_readable() -> None:
    assert text_rgb(diverging_rgb(-1.0, 1.0)) == (255, 255, 255)  # dark blue -> white text
    assert text_rgb(diverging_rgb(0.0, 1.0)) == (0, 0, 0)
    assert text_rgb(diverging_rgb(0.5, 1.0)) == (0, 0, 0)


def test_prompt_pieces_merge_byte_pieces_and_keep_gaps() -> None:
    # an emoji split into two byte tokens that both carry the whole character, and an uncovered gap
    tokens = [
        Token(BOS, 0, None, None, True),
        Token("hi", 1, 0, 2, False),
        Token("😀", 2, 3, 4, False),
        Token("😀", 3, 3, 4, False),
    ]
    pieces = prompt_pieces("hi 😀", tokens)
    assert [(p.text, p.indices, p.special) for p in pieces] == [
        (BOS, (0,), True),
        ("hi", (1,), False),
        (" ", (), False),
        ("😀", (2, 3), False),
    ]
    scores = np.array([0.1, 0.2, 0.25, 0.5])
    assert piece_score(pieces[3], scores) == pytest.approx(0.75)
    assert math.isnan(piece_score(pieces[2], scores))


def test_render_package_does_not_import_torch() -> None:
    """The renderers only need numpy: a CLI that only prints a saved result must stay light."""
    code = "import sys, tokenlight.render; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_html_heatmap_scrolls_and_never_clips(res: Attribution) -> None:
    """A wide matrix scrolls inside its box (both ways, sticky headers) instead of being cut off;
    headers read horizontally, cut with an ellipsis, the whole token in their title."""
    page = render_html(res)
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert ".scroll { overflow: auto;" in style
    assert "writing-mode" not in style and "rotate(" not in style
    assert "table.heatmap thead th { position: sticky; top: 0;" in style
    assert "text-overflow: ellipsis" in style
    assert '<div class="scroll"><table class="heatmap">' in page


def test_html_shows_the_per_layer_view_as_a_blocks_by_positions_heatmap(res: Attribution) -> None:
    import dataclasses

    layers = np.array([[0.1, -0.4, 0.2, 0.3, NAN], [0.0, 0.8, -0.1, 0.05, NAN]], dtype=np.float32)
    viewed = dataclasses.replace(
        res, layer_target=1, layer_scores=layers, layer_deltas=np.array([1e-3, -2e-3], dtype=np.float32)
    )
    page = render_html(viewed)
    p = parse(page)
    assert len(p.body_rows) == len(res.target_tokens) + 2  # the targets' rows, then one per block
    blocks = p.body_rows[len(res.target_tokens) :]
    assert [len(row) for row in blocks] == [4, 4]  # the 3 sources and the target before target 1
    assert [float(c["text"]) for c in blocks[1]] == pytest.approx([0.0, 0.8, -0.1, 0.05])
    assert blocks[0][1]["attrs"]["title"] == "score -0.4 — target 'a' at block 0 ← source 'def'"
    r, g, b = diverging_rgb(0.8, 0.8)  # one scale over the whole view: its largest |score| saturates
    assert f"background:#{r:02x}{g:02x}{b:02x}" in blocks[1][1]["attrs"]["style"]
    text = "".join(p.text)
    assert "Through the layers: target 1 'a'" in text and "block 1  Δ=" in text
    assert "Through the layers" not in render_html(res)
