"""Property tests: token offsets from the tokenizer, through the engine and the server, to LSP ranges.

Arbitrary Unicode (emoji and ZWJ sequences, flags, CJK, combining marks, astral letters, CRLF, lone
CR, tabs, form feeds and the other characters Python's ``splitlines`` breaks at but LSP does not,
NUL, the spelling of special tokens) goes through the real tokenizers of the embedded model and of
a tiny Llama-style model (byte-fallback BPE that adds its own BOS), through the engine's token and
offset code (``tokenize_with_spans``; and in a few examples the whole of ``attribute()`` with
saliency, word aggregation included), through the server's position mapping
(``protocol.attribute_result`` over ``positions.TextIndex``), in UTF-16, UTF-8 and UTF-32. The
ranges are then read back by an oracle written here from the LSP specification alone (lines end at
``\\n``, ``\\r\\n`` or ``\\r``; characters are code units of the negotiated encoding), which checks:

- every position is on a line that exists, at most the line's length, and never inside a
  character (half a surrogate pair in UTF-16, part of a multi-byte sequence in UTF-8);
- every non-special token's range holds exactly the token's text; the one exception LSP forces is a
  boundary between the ``\\r`` and ``\\n`` of a CRLF, which has no position and must sit before the
  ``\\r``;
- the tokens' ranges are contiguous and cover the selection (and the attributed following text);
- the selection's range maps back to the same offsets.

A few examples also go through a real daemon over stdio (``tokenlight/attribute``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec

from tokenlight.cache import ResultCache
from tokenlight.engine.tokens import tokenize_with_spans
from tokenlight.server import protocol as proto
from tokenlight.server.documents import Anchor, StoredResult
from tokenlight.server.positions import TextIndex
from tokenlight.server.results import ResultData, TokenData
from tokenlight.server.runner import Runner

ENCODINGS = (types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf32)

FRAGMENTS = [
    "a",
    "x = 1",
    "def f(a, b):",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "é",
    "e\u0301",  # e + combining acute
    "\u0301\u0308",  # combining marks on their own
    "😀",
    "👨\u200d👩\u200d👧",  # ZWJ sequence
    "🇫🇷",  # flag: two regional indicators
    "漢字",
    "한국어",
    "𝔘𝔫𝔦",  # astral letters
    "\U0001d11e",  # musical symbol: astral, 4 UTF-8 bytes
    "\x0c",  # form feed: Python splits lines here, LSP does not
    "\x0b",
    "\x1c",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u200b",
    "ﬁ",
    "Ⅻ",
    "\x00",
    "<|endoftext|>",
    "<s>",
]
SOME_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=4)


def texts(max_parts: int) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(FRAGMENTS), SOME_TEXT), max_size=max_parts).map("".join)


@dataclass(frozen=True)
class Case:
    """A document ``before + prompt + following``: the selection is ``prompt``."""

    before: str
    prompt: str
    following: str

    @property
    def doc(self) -> str:
        return self.before + self.prompt + self.following

    @property
    def start(self) -> int:
        return len(self.before)

    @property
    def end(self) -> int:
        return len(self.before) + len(self.prompt)


def _join(left: str, right: str) -> str:
    # a selection cannot start or end between \r and \n (LSP has no such position): keep them apart
    return left + "·" if left.endswith("\r") and right.startswith("\n") else left


@st.composite
def cases(draw, max_parts: int = 10, following_required: bool = False) -> Case:
    before = draw(texts(3))
    prompt = draw(texts(max_parts))
    following = draw(texts(4))
    if following_required and following == "":
        following = draw(st.sampled_from(["\n", " x", "😀", "\r\n", "字"]))
    before = _join(before, prompt or following)
    prompt = _join(prompt, following)
    if prompt == "" and before.endswith("\r") and following.startswith("\n"):
        before += "·"
    return Case(before, prompt, following)


# ----------------------------------------------------------------------------------------------
# the oracle: LSP positions from the specification, not from the server's code


class Oracle:
    """LSP lines and positions of ``doc`` in ``encoding``, from the spec."""

    def __init__(self, doc: str, encoding: str) -> None:
        self.doc = doc
        self.encoding = encoding
        self.lines: list[tuple[int, int]] = []  # (start offset, end of the line's text)
        start = 0
        for match in re.finditer(r"\r\n|\r|\n", doc):
            self.lines.append((start, match.start()))
            start = match.end()
        self.lines.append((start, len(doc)))

    def units(self, char: str) -> int:
        if self.encoding == types.PositionEncodingKind.Utf8:
            return len(char.encode("utf-8"))
        if self.encoding == types.PositionEncodingKind.Utf16:
            return 2 if ord(char) > 0xFFFF else 1
        return 1

    def offset(self, pos: dict[str, int]) -> int:
        """The code-point offset of a position; fails on anything the spec does not allow."""
        line, character = pos["line"], pos["character"]
        assert 0 <= line < len(self.lines), f"line {line} does not exist ({len(self.lines)} lines)"
        start, end = self.lines[line]
        offset, units = start, 0
        while units < character:
            assert offset < end, f"{pos} is past the end of line {line} (or inside its line break)"
            units += self.units(self.doc[offset])
            offset += 1
        assert units == character, f"{pos} is inside the character {self.doc[offset - 1]!r} ({self.encoding})"
        return offset

    def position(self, offset: int) -> dict[str, int]:
        line = max(i for i, (start, _) in enumerate(self.lines) if start <= offset)
        start, end = self.lines[line]
        assert offset <= end, "an offset inside a line break has no position"
        return {"line": line, "character": sum(self.units(c) for c in self.doc[start:offset])}

    def snap(self, offset: int) -> int:
        """Where a token boundary at ``offset`` must be: between \\r and \\n it moves before the \\r."""
        return offset - 1 if 0 < offset < len(self.doc) and self.doc[offset - 1 : offset + 1] == "\r\n" else offset

    def unsnapped(self, offset: int) -> list[int]:
        """The boundaries that :meth:`snap` could have moved to ``offset``."""
        return [offset, offset + 1] if self.doc[offset : offset + 2] == "\r\n" else [offset]


def check_tokens(oracle: Oracle, tokens: list[dict[str, Any]], spans: list[TokenData], base: int, length: int) -> None:
    """Ranges of one side (sources or following targets) against the spans they came from."""
    assert len(tokens) == len(spans)
    covered = oracle.snap(base)
    first = True
    for sent, span in zip(tokens, spans, strict=True):
        if span.start is None or span.end is None:
            assert sent["range"] is None and span.special
            continue
        assert sent["range"] is not None and sent["text"] == span.text
        a, b = oracle.offset(sent["range"]["start"]), oracle.offset(sent["range"]["end"])
        want_a, want_b = oracle.snap(base + span.start), oracle.snap(base + span.end)
        assert (a, b) == (want_a, want_b), (sent, span)
        if (want_a, want_b) == (base + span.start, base + span.end):
            assert oracle.doc[a:b] == span.text, (oracle.doc[a:b], span)
        if first:
            assert a == oracle.snap(base), "the first token starts where the text starts"
            first = False
        assert a <= covered, f"a gap before {sent}: covered up to {covered}"
        covered = max(covered, b)
    if not first:
        assert covered == oracle.snap(base + length), "the tokens cover the text"


def check_engine_spans(text: str, spans: list[TokenData]) -> None:
    """The engine's contract: a token's text is its span's text; spans in order, no gaps, covering."""
    covered, previous_start = 0, 0
    placed = [s for s in spans if s.start is not None and s.end is not None]
    for span in placed:
        assert span.text == text[span.start : span.end]
        assert span.start >= previous_start and span.start <= covered, (span, covered)
        previous_start, covered = span.start, max(covered, span.end)
    assert covered == (len(text) if placed else 0)


def server_result(case: Case, data: ResultData, encoding: str) -> tuple[dict[str, Any], TextIndex]:
    """What ``tokenlight/attribute`` answers for ``data`` attributed over ``case``'s selection."""
    document = TextDocument("file:///property.py", case.doc, position_codec=PositionCodec(encoding))
    index = TextIndex(document)
    oracle = Oracle(case.doc, encoding)
    selection = {"start": oracle.position(case.start), "end": oracle.position(case.end)}
    assert index.selection(proto.parse_range(selection, "range")) == (case.start, case.end)
    anchor = Anchor("file:///property.py", case.start, case.end, case.end + len(data.continuation))
    stored = StoredResult("r1", anchor, data, "following")
    return proto.attribute_result(stored, index, 0.0), index


def check_case(case: Case, data: ResultData) -> None:
    assert data.prompt == case.prompt and case.following.startswith(data.continuation)
    check_engine_spans(case.prompt, data.source_tokens)
    check_engine_spans(data.continuation, data.target_tokens)
    for encoding in ENCODINGS:
        result, _ = server_result(case, data, encoding)
        oracle = Oracle(case.doc, encoding)
        check_tokens(oracle, result["sourceTokens"], data.source_tokens, case.start, len(case.prompt))
        check_tokens(oracle, result["targetTokens"], data.target_tokens, case.end, len(data.continuation))


def plain(prompt: str, continuation: str, sources: list, targets: list) -> ResultData:
    """A ResultData with just the tokens (tokenization-only examples: no attribution pass)."""
    return ResultData(
        model={"name": "m", "device": "cpu", "dtype": "float32"},
        method="saliency",
        method_label="Saliency",
        has_delta=False,
        step_function="logit",
        baseline="zero",
        n_steps=None,
        prompt=prompt,
        continuation=continuation,
        target_kind="text",
        source_tokens=[TokenData(t.text, t.start, t.end, t.special) for t in sources],
        target_tokens=[TokenData(t.text, t.start, t.end, t.special, 0.5) for t in targets],
        scores=[],
        deltas=None,
        target_scores=[],
        baseline_scores=None,
        notes=[],
        warnings=[],
        converged=None,
        elapsed_ms=0.0,
        cached=False,
    )


# ----------------------------------------------------------------------------------------------
# a tiny Llama-style model: byte-fallback BPE, "▁" for spaces, a tokenizer that adds BOS itself


@pytest.fixture(scope="module")
def llama_like():
    import torch
    from tokenizers import Tokenizer, models, normalizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from tokenlight.engine import from_objects

    backend = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    special = ["<unk>", "<s>", "</s>", *(f"<0x{i:02X}>" for i in range(256))]
    corpus = ["def add(a, b):\n    return a + b\n", "漢字 かな 한국어 😀", "héllo wörld naïve café", "x = [1]\t# t"]
    backend.train_from_iterator(corpus * 20, trainers.BpeTrainer(vocab_size=500, special_tokens=special))
    bos = backend.token_to_id("<s>")
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=bos,
        eos_token_id=tokenizer.eos_token_id,
    )
    return from_objects(LlamaForCausalLM(config), tokenizer, name="tiny-llama")


@pytest.fixture(scope="module")
def models(lm, llama_like):
    return {"embedded": lm, "llama-like": llama_like}


# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["embedded", "llama-like"])
def test_token_ranges_from_tokenization_in_every_encoding(models, which):
    """Many examples, tokenization only (no attribution pass): the engine's spans for the selection
    and for the following text, placed by the server, read back by the oracle."""
    tokenizer = models[which].tokenizer

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases(), keep=st.integers(min_value=1, max_value=6))
    def check(case: Case, keep: int) -> None:
        sources = tokenize_with_spans(tokenizer, case.prompt, add_special_tokens=True, add_bos=True)
        targets, continuation = [], ""
        if case.following:
            targets = tokenize_with_spans(tokenizer, case.following, add_special_tokens=False, add_bos=False)[:keep]
            continuation = case.following[: max((t.end or 0) for t in targets)] if targets else ""
        check_case(case, plain(case.prompt, continuation, sources, targets))

    check()


@pytest.mark.parametrize("which", ["embedded", "llama-like"])
def test_token_ranges_through_the_engine_with_saliency(models, which, tmp_path_factory):
    """A few examples through the whole of ``attribute()`` (saliency; per token and per word) and
    the runner's conversion to plain data, as the daemon does it."""
    lm = models[which]
    runner = Runner(ResultCache(tmp_path_factory.mktemp("unused-cache"), max_bytes=0))
    runner.methods()

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases(max_parts=6, following_required=True), aggregate=st.sampled_from(["token", "word"]))
    def check(case: Case, aggregate: str) -> None:
        from tokenlight import attribute

        res = attribute(
            lm, case.prompt, target_text=case.following, max_target_tokens=3, method="saliency", aggregate=aggregate
        )
        check_case(case, runner._plain(res, cached=False))

    check()


_uris = itertools.count()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_parts=6, following_required=True))
def test_token_ranges_through_a_real_daemon(daemon, case: Case) -> None:
    """``tokenlight/attribute`` over real pipes (UTF-16): every range holds its token's text."""
    uri = f"file:///tokenlight-tests/offsets-property-{next(_uris)}.py"
    daemon.open(uri, case.doc)
    oracle = Oracle(case.doc, types.PositionEncodingKind.Utf16)
    rng = {"start": oracle.position(case.start), "end": oracle.position(case.end)}
    result = daemon.attribute(uri, rng, target={"kind": "following", "maxTokens": 3}, method="saliency")
    daemon.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    continuation = result["target"]["text"]
    assert case.following.startswith(continuation) and continuation
    for tokens, base, length in (
        (result["sourceTokens"], case.start, len(case.prompt)),
        (result["targetTokens"], case.end, len(continuation)),
    ):
        covered, first = oracle.snap(base), True
        for token in tokens:
            if token["range"] is None:
                assert token["special"]
                continue
            a, b = oracle.offset(token["range"]["start"]), oracle.offset(token["range"]["end"])
            # exactly the token's text, unless a boundary had to leave the middle of a CRLF
            assert any(case.doc[x:y] == token["text"] for x in oracle.unsnapped(a) for y in oracle.unsnapped(b)), (
                token,
                case.doc[a:b],
            )
            if first:
                assert a == oracle.snap(base)
                first = False
            assert a <= covered
            covered = max(covered, b)
        if not first:
            assert covered == oracle.snap(base + length)
