"""The chat option over LSP: a transcript in the document as turns, template tokens flagged, turn
spans with UTF-16 ranges on the turns' text."""

from __future__ import annotations

import copy

import torch
from lsp_harness import Daemon, lsp_lines, lsp_range, text_at

from model_files import save_model

TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
DOCUMENT = "system: Reply in 漢字.\r\nuser: Which emoji? 🎉\r\n\r\n### Assistant\r\n🚀 this one\r\nuser: Why?"


def _chat_model_folder(folder):
    from transformers import GPT2Config, GPT2LMHeadModel

    from tokenlight import load_model
    from tokenlight.engine import from_objects

    tok = copy.deepcopy(load_model(device="cpu", dtype="float32").tokenizer)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = TEMPLATE
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=4,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    return save_model(from_objects(GPT2LMHeadModel(config), tok, name="tiny-chat"), folder)


def test_a_transcript_over_lsp_has_turn_spans_and_template_tokens(tmp_path):
    folder = _chat_model_folder(tmp_path / "model")
    daemon, _ = Daemon.start(tmp_path, tmp_path / "cache")
    try:
        daemon.call("tokenlight/loadModel", {"model": str(folder), "device": "cpu", "dtype": "float32"})
        uri = "file:///tokenlight-tests/chat.md"
        daemon.open(uri, DOCUMENT)
        lines = lsp_lines(DOCUMENT)
        last = len(lines) - 1
        res = daemon.attribute(
            uri,
            lsp_range((last, 0), (last, len("user: Why?"))),
            method="saliency",
            target={"kind": "generate", "maxNewTokens": 2},
            options={"context": "document", "granularity": "turn", "chat": True},
        )
        tokens = res["sourceTokens"]
        template = [t for t in tokens if t.get("template")]
        assert template and all(t["range"] is None for t in template)
        assert {"<|im_start|>", "<|im_end|>", "user", "ass"} <= {t["text"] for t in template}  # "assistant": 3 tokens
        # the user's tokens land on their characters (UTF-16: the emoji are two units each)
        for t in tokens:
            if not t.get("template"):
                assert text_at(DOCUMENT, t["range"]) == t["text"]
        labels = [s["label"] for s in res["spans"]]
        assert labels == ["system 1", "user 1", "assistant 1", "user 2", "assistant 2 (reply)"]
        texts = [text_at(DOCUMENT, s["range"]) for s in res["spans"][:-1]]
        assert texts == ["Reply in 漢字.", "Which emoji? 🎉", "🚀 this one", "Why?"]
        assert res["spans"][-1]["range"] is None
        assert res["spans"][2]["range"]["start"] == {"line": 4, "character": 0}
        # a hover on the user's text ranks it among the visible tokens only, and says what the
        # template's tokens carry in one sum
        hover = daemon.hover(uri, 1, len("user: Wh"))
        assert hover is not None
        text = hover.contents.value
        visible = sum(1 for t in tokens if not t["special"] and not t.get("template"))
        assert f"of {visible} visible tokens" in text
        assert "the chat template carries" in text
    finally:
        daemon.close()
