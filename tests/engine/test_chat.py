"""Chat templates (option ``chat``): template tokens kept and flagged, turns as spans, offsets back
into the user's text.

The tokenizer is the embedded one given two added special tokens and a ChatML-style Jinja template
here; the model a tiny random GPT-2 over that vocabulary. Expected ids come from transformers' own
``apply_chat_template(tokenize=True)``, the expected continuation from a greedy loop written here.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tokenlight import attribute
from tokenlight.engine import Attribution
from tokenlight.engine.chat import parse_transcript
from tokenlight.engine.errors import InputError
from tokenlight.engine.spans import check_tiling

TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TRANSCRIPT = (
    "# a chat pasted into a file\n"
    "system: Answer in one word. 漢字\n"
    "user: What colour is the sky? 🎉\n"
    "\n"
    "### Assistant\n"
    "Blue.\n"
    "\n"
    "User: And the sea?\n"
)


@pytest.fixture(scope="module")
def chat_lm(tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    from tokenlight.engine import from_objects

    tok = copy.deepcopy(tokenizer)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = TEMPLATE
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=4,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )  # fmt: skip
    return from_objects(GPT2LMHeadModel(config), tok, name="tiny-chat")


def _messages(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in pairs]


def _template_ids(tok, messages, **kwargs) -> list[int]:
    ids = tok.apply_chat_template(messages, tokenize=True, return_dict=False, **kwargs)
    return list(ids["input_ids"] if isinstance(ids, dict) else ids)


def _check_content_tokens(res: Attribution, text: str) -> None:
    for t in res.source_tokens:
        if t.template:
            assert t.start is None and t.end is None
        else:
            assert t.start is not None and text[t.start : t.end] == t.text


def _covered(tokens, text: str) -> str:
    """The text the tokens cover, each span once (a character's byte pieces share its offsets)."""
    return "".join(text[a:b] for a, b in dict.fromkeys((t.start, t.end) for t in tokens))


def test_the_selection_is_one_user_message_and_the_reply_starts_after_the_assistant_prefix(chat_lm):
    tok = chat_lm.tokenizer
    text = "What is 2 + 2? 🎉"
    res = attribute(chat_lm, text, method="saliency", chat=True, max_new_tokens=4)
    expected = _template_ids(tok, _messages(("user", text)), add_generation_prompt=True)
    assert [t.id for t in res.source_tokens] == expected
    # the generation prompt ends the prompt: its tokens are the last sources, and template ones
    prefix = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    assert [t.id for t in res.source_tokens[-len(prefix) :]] == prefix
    assert all(t.template for t in res.source_tokens[-len(prefix) :])
    # the user's text, and only it, is in non-template tokens, with offsets into the selection
    _check_content_tokens(res, text)
    content = [t for t in res.source_tokens if not t.template]
    assert _covered(content, text) == text
    assert content[0].start == 0 and content[-1].end == len(text)
    flags = {t.text: (t.special, t.template) for t in res.source_tokens if t.template}
    assert flags["<|im_start|>"] == (True, True) and flags["<|endoftext|>"] == (True, True)
    assert flags["user"] == (False, True)
    # a literal greedy loop over the templated ids gives the same continuation
    ids = torch.tensor([expected])
    with torch.no_grad():
        for _ in range(4):
            ids = torch.cat([ids, chat_lm.model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert [t.id for t in res.target_tokens] == ids[0, len(expected) :].tolist()


def test_a_transcript_in_the_document_becomes_turns_with_spans_per_turn(chat_lm):
    tok = chat_lm.tokenizer
    res = attribute(
        chat_lm, TRANSCRIPT, method="saliency", chat=True, context="document", granularity="turn", target_text=" Blue"
    )
    turns, _ = parse_transcript(TRANSCRIPT)
    contents = ["Answer in one word. 漢字", "What colour is the sky? 🎉", "Blue.", "And the sea?"]
    assert [TRANSCRIPT[t.start : t.end] for t in turns] == contents
    assert [t.role for t in turns] == ["system", "user", "assistant", "user"]
    expected = _template_ids(
        tok, _messages(*zip([t.role for t in turns], contents, strict=True)), add_generation_prompt=True
    )
    assert [t.id for t in res.source_tokens] == expected
    _check_content_tokens(res, TRANSCRIPT)
    # one span per turn, then the reply's prefix; they tile the prompt
    check_tiling(res.spans, len(res.source_tokens))
    assert [s.label for s in res.spans] == ["system 1", "user 1", "assistant 1", "user 2", "assistant 2 (reply)"]
    assert {s.kind for s in res.spans} == {"turn"}
    for span, content in zip(res.spans, contents, strict=False):
        assert TRANSCRIPT[span.start : span.end] == content
        tokens = res.source_tokens[span.first : span.last + 1]
        # a turn is its header ("<|im_start|>", role, "\n"), its content and its "<|im_end|>", "\n"
        assert tokens[0].template and tokens[0].text in ("<|endoftext|>", "<|im_start|>")
        assert [t.text for t in tokens[-2:]] == ["<|im_end|>", "\n"] and all(t.template for t in tokens[-2:])
        assert _covered([t for t in tokens if not t.template], TRANSCRIPT) == content
    reply = res.spans[-1]
    assert reply.start is None and all(t.template for t in res.source_tokens[reply.first : reply.last + 1])
    assert any("before the first turn marker (line 2)" in n for n in res.notes)
    # span scores are the token sums, as for every token method
    for i, span in enumerate(res.spans):
        assert res.span_scores[0, i] == pytest.approx(
            float(np.sum(res.scores[0, span.first : span.last + 1])), rel=1e-5
        )


def test_a_transcript_that_ends_in_the_assistants_turn_is_continued(chat_lm):
    tok = chat_lm.tokenizer
    text = "user: Name a colour.\nassistant: The colour is"
    res = attribute(
        chat_lm, text, method="saliency", chat=True, context="document", granularity="turn", max_new_tokens=2
    )
    messages = _messages(("user", "Name a colour."), ("assistant", "The colour is"))
    expected = _template_ids(tok, messages, continue_final_message=True)
    assert [t.id for t in res.source_tokens] == expected
    assert not res.source_tokens[-1].template and res.source_tokens[-1].end == len(text)
    assert [s.label for s in res.spans] == ["user 1", "assistant 1"]
    # an empty assistant marker at the end asks for a new reply instead
    opened = attribute(chat_lm, "user: Name a colour.\nassistant:", method="saliency", chat=True, context="document",
                       max_new_tokens=1)  # fmt: skip
    assert [t.id for t in opened.source_tokens] == _template_ids(
        tok, _messages(("user", "Name a colour.")), add_generation_prompt=True
    )


def test_other_granularities_keep_template_tokens_as_spans_of_their_own(chat_lm):
    res = attribute(chat_lm, TRANSCRIPT, method="saliency", chat=True, context="document", granularity="line",
                    target_text=" Blue")  # fmt: skip
    check_tiling(res.spans, len(res.source_tokens))
    for span in res.spans:
        tokens = res.source_tokens[span.first : span.last + 1]
        if span.kind == "template":
            assert len(tokens) == 1 and tokens[0].template and span.start is None
        else:
            assert span.kind == "line" and not any(t.template for t in tokens)
            assert span.start == tokens[0].start and span.end == tokens[-1].end
    lines = sorted({s.label.split(":")[0] for s in res.spans if s.kind == "line"})
    assert lines == ["line 2", "line 3", "line 6", "line 8"]  # the marker lines' contents; line 1 is left out
    words = attribute(chat_lm, TRANSCRIPT, method="saliency", chat=True, context="document", granularity="word",
                      target_text=" Blue")  # fmt: skip
    check_tiling(words.spans, len(words.source_tokens))
    assert "colour" in [s.label.strip() for s in words.spans if s.kind == "word"]


def test_template_tokens_are_flagged_in_json_and_survive_msgpack(chat_lm):
    res = attribute(chat_lm, "hi there", method="saliency", chat=True, target_text=" yes")
    flagged = [t.get("template", False) for t in res.to_json_dict()["sourceTokens"]]
    assert flagged == [t.template for t in res.source_tokens] and any(flagged) and not all(flagged)
    back = Attribution.from_msgpack(res.to_msgpack())
    assert [t.template for t in back.source_tokens] == [t.template for t in res.source_tokens]
    assert res.options["chat"] is True


def test_chat_without_a_template_and_turns_without_chat_are_clear_errors(lm, chat_lm):
    with pytest.raises(InputError, match="has no chat template"):
        attribute(lm, "hello", method="saliency", chat=True, max_new_tokens=1)
    with pytest.raises(InputError, match="turn the chat option on"):
        attribute(chat_lm, "hello", method="saliency", granularity="turn", max_new_tokens=1)
    with pytest.raises(InputError, match="granularity='word'"):
        attribute(chat_lm, "hello", method="saliency", chat=True, aggregate="word", max_new_tokens=1)


def test_a_template_that_rewrites_the_text_is_refused(chat_lm):
    shouting = copy.deepcopy(chat_lm.tokenizer)
    shouting.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] | upper }}\n{% endfor %}"
    from tokenlight.engine import from_objects

    lm = from_objects(chat_lm.model, shouting, name="shouting")
    with pytest.raises(InputError, match="changes the messages' text"):
        attribute(lm, "hello", method="saliency", chat=True, max_new_tokens=1)
    shouting.chat_template = "{% for m in messages %}{{ m['role'] }}\n{% endfor %}"  # drops the contents
    with pytest.raises(InputError, match="exactly once"):
        attribute(lm, "hello", method="saliency", chat=True, max_new_tokens=1)


def test_a_document_without_markers_is_one_user_message_with_a_note():
    turns, notes = parse_transcript("\n  just a question?\n")
    assert [(t.role, t.start, t.end) for t in turns] == [("user", 3, 19)]
    assert "no turn markers" in notes[0]


def test_a_template_whose_prefixes_render_differently_gives_template_tokens_to_the_turn_they_open(chat_lm):
    counting = copy.deepcopy(chat_lm.tokenizer)
    # the message count up front: the first k messages do not render as a prefix of all of them
    counting.chat_template = (
        "{{ messages | length }}\n{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    )
    from tokenlight.engine import from_objects

    lm = from_objects(chat_lm.model, counting, name="counting")
    text = "user: hi\nassistant: hello there"
    res = attribute(lm, text, method="saliency", chat=True, context="document", granularity="turn", max_new_tokens=1)
    check_tiling(res.spans, len(res.source_tokens))
    assert [s.label for s in res.spans] == ["user 1", "assistant 1"]
    first = res.source_tokens[res.spans[1].first]
    assert first.template and first.text.strip() in ("", "[")  # the line break after "hi" opens the next turn
    assert text[res.spans[1].start : res.spans[1].end] == "hello there"


def test_a_transcript_too_long_for_the_model_drops_its_earliest_turns_and_keeps_the_system_one(chat_lm):
    exchanges = "".join(f"user: question number {i}?\nassistant: answer number {i}.\n" for i in range(12))
    text = "system: Be brief.\n" + exchanges + "user: And the last one?"
    res = attribute(chat_lm, text, method="saliency", chat=True, context="document", granularity="turn",
                    target_text=" yes")  # fmt: skip
    assert len(res.source_tokens) + len(res.target_tokens) <= chat_lm.context_length
    labels = [s.label for s in res.spans]
    assert labels[0] == "system 1" and labels[-2:] == [labels[-2], "assistant " + labels[-1].split()[1] + " (reply)"]
    assert text[res.spans[-2].start : res.spans[-2].end] == "And the last one?"
    note = next(n for n in res.notes if "turn(s) were left out" in n)
    dropped = int(note.split("its first ")[1].split()[0])
    kept = [s for s in res.spans[1:-1]]
    assert len(kept) == 25 - dropped  # 24 exchange turns and the last question, less the dropped
    first = text[kept[0].start : kept[0].end]
    assert first in (f"question number {dropped // 2}?", f"answer number {(dropped - 1) // 2}.")
    assert "system turn kept" in note
    # one turn more than fits is still the last question alone: too long only when that does not fit
    with pytest.raises(InputError, match="accepts"):
        attribute(chat_lm, "user: " + "word " * 200, method="saliency", chat=True, context="document",
                  target_text=" yes")  # fmt: skip


def test_remove_ablation_on_a_chat_prompt_says_it_deleted_tokens_without_tokenising_again(chat_lm):
    common = {"chat": True, "context": "document", "granularity": "turn", "target_text": " yes", "drill_down": 0}
    removed = attribute(chat_lm, TRANSCRIPT, method="span_occlusion", ablation="remove", **common)
    replaced = attribute(chat_lm, TRANSCRIPT, method="span_occlusion", ablation="replace", **common)
    assert any("without tokenising the rest again" in note for note in removed.notes)
    assert not any("without tokenising" in note for note in replaced.notes)
