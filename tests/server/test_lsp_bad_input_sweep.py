"""Every kind of bad input, thrown at one daemon over raw JSON-RPC on real pipes (no client library
to tidy the bytes up): after each, a valid request must still be answered. Prints the summary
"tried N, crashed 0"."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading

import pytest

TIMEOUT_S = 120


class RawDaemon:
    """A daemon process and the JSON-RPC framing, by hand."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tokenlight.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put(None)  # the daemon closed its output: it is gone
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.messages.put(json.loads(stream.read(length)))

    def send_bytes(self, body: bytes) -> None:
        self.process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.process.stdin.flush()

    def send(self, message: dict) -> None:
        self.send_bytes(json.dumps(message).encode())

    def request(self, method: str, params: object) -> dict:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            message = self.messages.get(timeout=TIMEOUT_S)
            if message is None:
                raise ConnectionError("the daemon exited")
            if message.get("id") == self.next_id and "method" not in message:
                return message

    def notify(self, method: str, params: object) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def alive(self) -> bool:
        try:
            return "result" in self.request("tokenlight/status", {})
        except (ConnectionError, queue.Empty):
            return False


def _open(d: RawDaemon, uri: str, text: str) -> None:
    d.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})


def _attribute(uri: str, end: tuple[int, int] = (0, 5), **extra) -> dict:
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": end[0], "character": end[1]}}
    return {"textDocument": {"uri": uri}, "range": rng, **extra}


@pytest.fixture(scope="module")
def raw_daemon(tmp_path_factory):
    env = dict(os.environ, TOKENLIGHT_CACHE_DIR=str(tmp_path_factory.mktemp("cache")), HF_HUB_OFFLINE="1")
    d = RawDaemon(env)
    init = d.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert "result" in init
    d.notify("initialized", {})
    _open(d, "file:///ok.py", "def add(a, b):\n    return a + b\n")
    yield d
    d.process.kill()
    d.process.wait()


def _not_causal_model(tmp_path) -> str:
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(vocab_size=64, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    ).save_pretrained(tmp_path)
    return str(tmp_path)


def test_every_bad_input_gets_an_answer_and_the_daemon_stays_up(raw_daemon, tmp_path, capsys):
    d = raw_daemon
    ok = "file:///ok.py"
    cases: list[tuple[str, object]] = [
        ("body that is not JSON", lambda: d.send_bytes(b"{this is not json")),
        ("JSON that is not an object", lambda: d.send_bytes(b"[1, 2, 3]")),
        ("a request without a method", lambda: d.send({"jsonrpc": "2.0", "id": 999})),
        ("an unknown request method", lambda: d.request("tokenlight/nope", {})),
        ("a notification with bad params", lambda: d.notify("textDocument/didChange", {"oops": True})),
        ("a document never opened", lambda: d.request("tokenlight/attribute", _attribute("file:///never.py"))),
        (
            "a reversed range",
            lambda: d.request(
                "tokenlight/attribute",
                {**_attribute(ok), "range": {"start": {"line": 1, "character": 4}, "end": {"line": 0, "character": 1}}},
            ),
        ),
        ("a range outside the document", lambda: d.request("tokenlight/attribute", _attribute(ok, (9, 0)))),
        ("an unknown method id", lambda: d.request("tokenlight/attribute", _attribute(ok, method="magic"))),
        ("an unknown baseline", lambda: d.request("tokenlight/attribute", _attribute(ok, options={"baseline": "x"}))),
        (
            "an unknown step function",
            lambda: d.request("tokenlight/attribute", _attribute(ok, options={"stepFunction": "vibes"})),
        ),
        ("nSteps 0", lambda: d.request("tokenlight/attribute", _attribute(ok, options={"nSteps": 0}))),
        ("nSteps 10^7", lambda: d.request("tokenlight/attribute", _attribute(ok, options={"nSteps": 10**7}))),
        (
            "maxNewTokens 0",
            lambda: d.request("tokenlight/attribute", _attribute(ok, target={"kind": "generate", "maxNewTokens": 0})),
        ),
        (
            "maxNewTokens huge",
            lambda: d.request(
                "tokenlight/attribute", _attribute(ok, target={"kind": "generate", "maxNewTokens": 10**6})
            ),
        ),
        (
            "a multi-token contrast token",
            lambda: d.request(
                "tokenlight/attribute",
                _attribute(ok, options={"stepFunction": "logit_diff", "contrastToken": " two words", "nSteps": 2}),
            ),
        ),
        ("a model path that does not exist", lambda: d.request("tokenlight/loadModel", {"model": "/no/such/model"})),
        (
            "a model that is not a causal LM",
            lambda: d.request("tokenlight/loadModel", {"model": _not_causal_model(tmp_path)}),
        ),
        (
            "a document with NUL and control bytes",
            lambda: (
                _open(d, "file:///nul.py", "a\x00b\x01\x7f = 1\n"),
                d.request(
                    "tokenlight/attribute",
                    _attribute(
                        "file:///nul.py", (0, 7), options={"nSteps": 2}, target={"kind": "generate", "maxNewTokens": 1}
                    ),
                ),
            ),
        ),
        (
            "a document that decoded binary junk",
            lambda: (
                _open(d, "file:///bin.py", "\ufffd\ufffdPK\x03\x04\ufffd"),
                d.request(
                    "tokenlight/attribute",
                    _attribute(
                        "file:///bin.py", (0, 6), options={"nSteps": 2}, target={"kind": "generate", "maxNewTokens": 1}
                    ),
                ),
            ),
        ),
        (
            "a lone surrogate in the text",
            lambda: (
                d.send_bytes(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "method": "textDocument/didOpen",
                            "params": {
                                "textDocument": {
                                    "uri": "file:///sur.py",
                                    "languageId": "python",
                                    "version": 1,
                                    "text": "x = '\ud800'\n",
                                }
                            },
                        }
                    ).encode()
                ),
                d.request(
                    "tokenlight/attribute",
                    _attribute(
                        "file:///sur.py", (0, 5), options={"nSteps": 2}, target={"kind": "generate", "maxNewTokens": 1}
                    ),
                ),
            ),
        ),
        ("params of the wrong type", lambda: d.request("tokenlight/attribute", [1, 2])),
    ]
    tried = crashed = 0
    failures = []
    for name, action in cases:
        tried += 1
        answer = None
        with contextlib.suppress(queue.Empty):  # a message without an id gets no answer: the next request tells
            answer = action()
        if isinstance(answer, tuple):
            answer = answer[-1]
        if isinstance(answer, dict) and "error" in answer:
            message = answer["error"].get("message", "")
            assert len(message) > 15, (name, answer)  # a sentence a person can act on, not a bare code
        if not d.alive():
            crashed += 1
            failures.append(name)
            break
    with capsys.disabled():
        print(f"\nbad input over LSP: tried {tried}, crashed {crashed}")
    assert crashed == 0, failures
    # and a valid attribution still works after all of it
    res = d.request(
        "tokenlight/attribute",
        _attribute(ok, (0, 14), options={"nSteps": 4}, target={"kind": "generate", "maxNewTokens": 2}),
    )
    assert "result" in res and res["result"]["targetTokens"]
