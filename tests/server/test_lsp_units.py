"""The server's pure parts in-process: positions in every encoding, anchors under edits, markdown
escaping, settings, parameter parsing, progress throttling and bind checks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec

from tokenlight.server import markdown as md
from tokenlight.server import progress as progress_mod
from tokenlight.server.documents import Anchor
from tokenlight.server.positions import PositionError, TextIndex
from tokenlight.server.protocol import parse_attribute
from tokenlight.server.settings import Settings
from tokenlight.server.transport import TransportError, check_bind, is_loopback, parse_address

TEXT = 'a = "😋"\n漢字 e\u0301\r\nlast'


def _index(text: str, encoding: str = types.PositionEncodingKind.Utf16) -> TextIndex:
    return TextIndex(TextDocument("file:///t.py", text, position_codec=PositionCodec(encoding)))


@pytest.mark.parametrize(
    ("encoding", "emoji_end"),
    [
        (types.PositionEncodingKind.Utf16, 7),
        (types.PositionEncodingKind.Utf8, 9),
        (types.PositionEncodingKind.Utf32, 6),
    ],
)
def test_positions_in_each_encoding(encoding, emoji_end):
    index = _index(TEXT, encoding)
    emoji = TEXT.index("😋")
    assert index.position(emoji + 1) == types.Position(line=0, character=emoji_end)
    assert index.offset(types.Position(line=0, character=emoji_end)) == emoji + 1
    assert index.position(len(TEXT)) == types.Position(line=2, character=4)
    assert index.offset(types.Position(line=1, character=0)) == TEXT.index("漢")


@given(st.lists(st.sampled_from(["a", "é", "e\u0301", "😋", "字", "\n", "\r\n", " ", "🇫🇷"]), max_size=30).map("".join))
def test_offsets_and_positions_round_trip(text):
    index = _index(text)
    for offset in range(len(text) + 1):
        if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
            continue  # between \r and \n is not a position
        assert index.offset(index.position(offset)) == offset


def test_positions_outside_the_document_are_errors():
    index = _index("ab\ncd\n")
    assert index.offset(types.Position(line=2, character=0)) == 6  # after the final newline
    for line, character in ((2, 1), (5, 0), (0, 3)):
        with pytest.raises(PositionError):
            index.offset(types.Position(line=line, character=character))
    with pytest.raises(PositionError, match="before it starts"):
        index.selection(types.Range(types.Position(1, 0), types.Position(0, 1)))
    assert index.clamped_offset(types.Position(line=0, character=99)) == 2


def test_anchor_moves_with_edits_before_and_dies_with_edits_inside():
    def anchor(following: bool = False) -> Anchor:
        return Anchor("u", 10, 20, 30 if following else 20)

    a = anchor()
    assert a.apply_edit(0, 2, 5) and (a.start, a.prompt_end, a.end) == (13, 23, 23)  # before: moves
    a = anchor()
    assert a.apply_edit(10, 10, 3) and a.start == 13  # insertion at the start: moves
    a = anchor()
    assert a.apply_edit(20, 20, 3) and (a.start, a.end) == (10, 20)  # insertion at the end: stays
    a = anchor()
    assert a.apply_edit(25, 26, 0) and a.end == 20  # after: untouched
    for edit in ((15, 15, 1), (5, 11, 0), (19, 25, 2), (0, 100, 0)):
        a = anchor()
        assert not a.apply_edit(*edit) and not a.alive
    f = anchor(following=True)
    assert not f.apply_edit(20, 20, 1)  # inserting between selection and following text
    f = anchor(following=True)
    assert f.apply_edit(30, 31, 0)  # just after the attributed following text
    empty = Anchor("u", 5, 5, 5)
    assert empty.apply_edit(5, 5, 2) and empty.start == 7
    assert not Anchor("u", 5, 5, 5).apply_edit(4, 6, 0)


def test_markdown_escaping_shows_tokens_as_themselves():
    assert md.token("<script>") == "\\<script\\>"
    assert md.token("`**x**`") == "\\`\\*\\*x\\*\\*\\`"
    assert md.token("a|b") == "a\\|b"
    assert md.token(" self\n") == "·self↵"
    assert md.token("") == "◦"
    assert md.number(None) == "—" and md.number(0.123456789) == "0.123457"
    assert md.percent(1, 4) == "25%" and md.percent(1, 0) == "n/a"


def test_settings_update_reports_problems_and_keeps_the_rest():
    settings, problems = Settings().updated({"nSteps": 0, "model": "gpt2", "bogus": 1, "colorScheme": "x"})
    assert settings.model == "gpt2" and settings.options["n_steps"] is None
    assert problems == [
        "tokenlight.nSteps must be between 1 and 4096 (got 0) (ignored)",
        "unknown setting tokenlight.bogus (ignored)",
    ]
    back, _ = settings.updated({"model": None})
    assert back.model is None
    assert Settings().updated("x")[1] == ["tokenlight settings must be an object, got str"]


def test_attribute_params_parse_and_reject():
    p = parse_attribute(
        {
            "textDocument": {"uri": "file:///x"},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
            "target": {"kind": "following", "maxTokens": 4},
            "options": {"nSteps": 5, "internalBatchSize": 2},
            "workDoneToken": 7,
        }
    )
    assert p.target.kind == "following" and p.target.max_tokens == 4
    assert p.options["n_steps"] == 5 and p.work_done_token == 7
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
    with pytest.raises(JsonRpcException, match="maxTokens must be at most 1024"):
        parse_attribute(
            {"textDocument": {"uri": "u"}, "range": rng, "target": {"kind": "following", "maxTokens": 5000}}
        )
    with pytest.raises(JsonRpcException, match="aggregate"):
        parse_attribute({"textDocument": {"uri": "u"}, "range": rng, "options": {"aggregate": "sentence"}})
    words = parse_attribute({"textDocument": {"uri": "u"}, "range": rng, "options": {"aggregate": "word"}})
    assert words.options["aggregate"] == "word"
    with pytest.raises(JsonRpcException, match=r"range\.start must be a position"):
        parse_attribute({"textDocument": {"uri": "u"}, "range": {}})


class _FakeProgress:
    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []
        self.tokens: dict = {}

    def begin(self, token, value):
        self.sent.append(("begin", value))

    def report(self, token, value):
        self.sent.append(("report", value))

    def end(self, token, value):
        self.sent.append(("end", value))


class _FakeServer:
    def __init__(self) -> None:
        self.work_done_progress = _FakeProgress()


def test_progress_is_throttled_but_phases_and_the_end_get_through(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: clock[0])
    server = _FakeServer()
    work = progress_mod.WorkDone(server, "tok", "Tokenlight: attribute")  # type: ignore[arg-type]
    work.report("loading model m", None)
    work.report("starting", 0)  # a new phase: sent at once
    for k in range(50):  # 50 engine reports within 49 ms: one goes out
        clock[0] += 0.001
        work.report(f"target {k // 10 + 1} of 5", k)
    clock[0] += 0.2
    work.report("target 5 of 5", 99)  # after the interval: sent
    work.report("target 5 of 5", 100)  # the final one: always sent
    work.end("done")
    work.report("target 5 of 5", 100)  # after the end: nothing
    kinds = [kind for kind, _ in server.work_done_progress.sent]
    messages = [getattr(value, "message", None) for _, value in server.work_done_progress.sent]
    assert kinds == ["begin", "report", "report", "report", "report", "report", "end"]
    assert messages[1:4] == ["loading model m", "starting", "target 1 of 5"]
    assert messages[-1] == "done"
    assert progress_mod.WorkDone(_FakeServer(), None, "x").token is None  # no token: no messages


def test_bind_addresses_and_the_token_rule():
    assert parse_address("8765") == parse_address(":8765") == parse_address("127.0.0.1:8765")
    assert parse_address("[::1]:9").host == "::1" and str(parse_address("[::1]:9")) == "[::1]:9"
    for bad in ("host:port", "1:70000"):
        with pytest.raises(TransportError):
            parse_address(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    check_bind(parse_address("127.0.0.1:1"), None)
    check_bind(parse_address("0.0.0.0:1"), "token")
    with pytest.raises(TransportError, match="--token"):
        check_bind(parse_address("0.0.0.0:1"), None)


def test_worker_runs_every_clients_jobs_in_arrival_order_and_cancels_by_owner():
    """The shared worker: one job at a time in arrival order whoever submitted it; cancelling one
    owner's jobs skips its waiting ones and leaves everyone else's."""
    import asyncio
    import threading

    from tokenlight.server.worker import JobCancelled, Worker

    async def scenario():
        worker = Worker()
        gate = threading.Event()
        ran: list[str] = []

        def work(name: str):
            def run(ctx):
                if name == "a1":
                    gate.wait(10)
                ran.append(name)
                return name

            return run

        jobs = [
            worker.submit(name, work(name), owner=owner) for name, owner in [("a1", 1), ("b1", 2), ("a2", 1), ("b2", 2)]
        ]
        while worker.current is None:
            await asyncio.sleep(0.01)
        listed = [(job.name, state, job.owner) for job, state in worker.jobs()]
        cancelled = worker.cancel_owned_by(1)
        after_cancel = [(job.name, state) for job, state in worker.jobs()]
        gate.set()
        results = await asyncio.gather(*(job.future for job in jobs), return_exceptions=True)
        worker.stop()
        return listed, [job.name for job in cancelled], after_cancel, results, ran, jobs

    listed, cancelled, after_cancel, results, ran, jobs = asyncio.run(scenario())
    assert listed == [("a1", "running", 1), ("b1", "queued", 2), ("a2", "queued", 1), ("b2", "queued", 2)]
    assert cancelled == ["a1", "a2"]
    assert after_cancel == [("a1", "running"), ("b1", "queued"), ("b2", "queued")]
    # a1 was already inside its work (it would stop at its next chunk; this one has none): it finishes
    assert results[0] == "a1" and results[1] == "b1" and isinstance(results[2], JobCancelled) and results[3] == "b2"
    assert ran == ["a1", "b1", "b2"]
    assert [job.id for job in jobs] == sorted(job.id for job in jobs)
    done = [job for job in jobs if job.started is not None]
    assert all(x.finished <= y.started for x, y in itertools.pairwise(done))
    assert jobs[2].started is None  # skipped, never run


def test_a_job_that_raises_systemexit_fails_alone_and_the_worker_goes_on():
    """A library calling sys.exit() inside a job must not kill the one worker thread."""
    import asyncio

    from tokenlight.server.worker import Worker

    def exits(ctx):
        raise SystemExit(3)

    async def scenario():
        worker = Worker()
        first = worker.submit("exits", exits)
        second = worker.submit("fine", lambda ctx: "ok")
        results = await asyncio.wait_for(asyncio.gather(first.future, second.future, return_exceptions=True), 10)
        worker.stop()
        return results

    error, value = asyncio.run(scenario())
    assert isinstance(error, RuntimeError) and "SystemExit" in str(error)
    assert value == "ok"


def test_the_server_never_imports_a_step_function_a_client_names_as_module_function():
    from tokenlight.server.protocol import refuse_code_references

    with pytest.raises(JsonRpcException, match="names code to import"):
        refuse_code_references({"step_function": "os:system"})
    refuse_code_references({"step_function": "entropy"})  # registered ids, entry points included, pass
