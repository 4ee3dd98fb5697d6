"""Tokens, spans, BOS, targets (generated, forced, sampled), step functions and baselines."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, processors
from transformers import PreTrainedTokenizerFast

from tokenlight import attribute
from tokenlight.engine import from_objects
from tokenlight.engine.tokens import tokenize_with_spans


@pytest.mark.parametrize("text", ["def add(a, b):", "x = '😀 漢字 é'\r\n\tpass", "e\u0301 = 1  # combining", ""])
def test_source_spans_map_back_to_their_text(tokenizer, text):
    tokens = tokenize_with_spans(tokenizer, text, add_special_tokens=True, add_bos=True)
    assert tokens[0].special and tokens[0].start is None and tokens[0].id == tokenizer.bos_token_id
    covered = ""
    previous_end = 0
    for tok in tokens[1:]:
        assert not tok.special
        assert tok.text == text[tok.start : tok.end]
        if tok.start >= previous_end:  # byte pieces of one character share its span
            covered += text[previous_end : tok.start] + tok.text
            previous_end = tok.end
    assert covered == text


def test_a_tokenizer_that_adds_bos_itself_gets_no_second_bos(tokenizer):
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    bos = tokenizer.bos_token
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tokenizer.bos_token_id)]
    )
    llama_like = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=bos)
    tokens = tokenize_with_spans(llama_like, "x = 1", add_special_tokens=True, add_bos=True)
    assert [t.special for t in tokens].count(True) == 1 and tokens[0].id == tokenizer.bos_token_id


def test_the_bos_spelled_in_the_prompt_is_text_with_a_span(tokenizer):
    """The text "<|endoftext|>" typed at the start keeps its span, and BOS still leads."""
    text = "<|endoftext|>def f(): pass"
    tokens = tokenize_with_spans(tokenizer, text, add_special_tokens=True, add_bos=True)
    assert tokens[0].special and tokens[0].start is None and tokens[0].id == tokenizer.bos_token_id
    assert (tokens[1].id, tokens[1].start, tokens[1].end) == (tokenizer.bos_token_id, 0, len("<|endoftext|>"))
    assert "".join(t.text for t in tokens[1:]) == text


def test_combining_marks_composed_away_by_the_normalizer_belong_to_the_token_before():
    """An NFKC tokenizer turns "e" + U+0301 into one "é" whose offsets cover only the "e"."""
    from tokenizers import models, normalizers, pre_tokenizers

    backend = Tokenizer(models.WordLevel({"[UNK]": 0, "café": 1, "x": 2}, unk_token="[UNK]"))
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    nfkc = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    text = "cafe\u0301 x"
    tokens = tokenize_with_spans(nfkc, text, add_special_tokens=True, add_bos=False)
    assert [(t.id, t.start, t.end, t.text) for t in tokens] == [(1, 0, 5, "cafe\u0301"), (2, 6, 7, "x")]


def test_empty_prompt_continues_from_bos_and_attributes_it(lm):
    res = attribute(lm, "", max_new_tokens=3, n_steps=16)
    assert [t.special for t in res.source_tokens] == [True]
    assert res.source_tokens[0].start is None
    assert res.scores.shape == (len(res.target_tokens), 1 + len(res.target_tokens))
    assert np.all(np.isfinite(res.scores[:, 0]))
    assert np.any(res.scores[:, 0] != 0)  # BOS is a real, attributable source token
    assert np.abs(res.deltas).max() < 0.01 * np.abs(res.target_scores - res.baseline_scores).max()


def test_baseline_equal_to_the_token_gives_exact_zero_and_says_why(lm):
    res = attribute(lm, "", max_new_tokens=2, baseline="eos", n_steps=8)
    assert np.all(res.scores[:, 0] == 0.0)
    assert res.baseline_equal[0]
    assert any("exactly 0" in note for note in res.notes)
    zero = attribute(lm, "", max_new_tokens=2, baseline="zero", n_steps=8)
    assert not zero.baseline_equal.any() and not any("exactly 0" in n for n in zero.notes)


def test_token_baseline_by_text(lm):
    res = attribute(lm, "a = b", target_text=" +", baseline="token: b", n_steps=8)
    assert res.baseline == "token: b"
    b_position = [t.text for t in res.source_tokens].index(" b")
    assert res.scores[0, b_position] == 0.0 and res.baseline_equal[b_position]


def test_greedy_generation_is_deterministic_and_targets_carry_probabilities(lm):
    a = attribute(lm, "import os\n", max_new_tokens=5, method="saliency")
    b = attribute(lm, "import os\n", max_new_tokens=5, method="saliency")
    assert [t.id for t in a.target_tokens] == [t.id for t in b.target_tokens]
    assert a.continuation == "".join(t.text for t in a.target_tokens if not t.special)
    for tok in a.target_tokens:
        assert 0.0 < tok.probability <= 1.0
    # greedy: every generated token is the most likely one, so its probability is the largest
    assert all(t.probability > 0.05 for t in a.target_tokens)


def test_seeded_sampling_is_reproducible(lm):
    kwargs = {"max_new_tokens": 6, "method": "saliency", "sample": True, "temperature": 1.5}
    a = attribute(lm, "x", seed=3, **kwargs)
    b = attribute(lm, "x", seed=3, **kwargs)
    others = [attribute(lm, "x", seed=s, **kwargs).continuation for s in range(4, 8)]
    assert a.continuation == b.continuation
    assert any(o != a.continuation for o in others)


def test_generation_stops_at_eos(tiny_gpt2):
    # make EOS the argmax everywhere: the final norm outputs the constant e₀ (weight 0, bias e₀), and
    # only EOS's output row has a large first entry, so its logit is 1000 against the others' ~0.02
    model = copy.deepcopy(tiny_gpt2.model)
    eos = tiny_gpt2.tokenizer.eos_token_id
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.lm_head.weight[eos, 0] = 1000.0
    lm = from_objects(model, tiny_gpt2.tokenizer, name="eos-first")
    res = attribute(lm, "a", max_new_tokens=5, method="saliency")
    # EOS is generated first, generation stops there, and EOS is kept as the (only) target
    assert [t.id for t in res.target_tokens] == [eos]
    assert res.target_tokens[0].special
    assert res.scores.shape == (1, len(res.source_tokens) + 1)
    assert np.isfinite(res.scores[0, : len(res.source_tokens)]).all()


def test_forced_target_text_is_attributed_token_by_token(lm):
    text = " a + b\n"
    res = attribute(lm, "def add(a, b):\n    return", target_text=text, n_steps=8)
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert [t.id for t in res.target_tokens] == ids
    assert res.continuation == text and res.target_kind == "text"
    assert [text[t.start : t.end] for t in res.target_tokens] == [t.text for t in res.target_tokens]


@pytest.mark.parametrize("step", ["logit", "probability", "log_probability"])
def test_step_functions_value_at_the_input(lm, step):
    res = attribute(lm, "for i in", target_text=" range", step_function=step, n_steps=24)
    # f(x) from the model's own forward on the token ids, not from the engine's numbers
    ids = torch.tensor([[t.id for t in res.source_tokens]])
    with torch.no_grad():
        logits = lm.model(input_ids=ids).logits[0, -1].double()
    target = res.target_tokens[0].id
    expected = {
        "logit": logits[target],
        "probability": logits.softmax(-1)[target],
        "log_probability": logits.log_softmax(-1)[target],
    }[step]
    assert res.target_scores[0] == pytest.approx(float(expected), rel=1e-4)
    assert abs(res.deltas[0]) < 0.01 * abs(res.target_scores[0] - res.baseline_scores[0]) + 1e-6


def test_contrastive_targets(lm):
    logit = attribute(lm, "for i in", target_text=" range", n_steps=16)
    other = attribute(lm, "for i in", target_text=" enumerate", n_steps=16)
    diff = attribute(
        lm, "for i in", target_text=" range", step_function="logit_diff", contrast_token=" enumerate", n_steps=16
    )
    assert diff.contrast_token == " enumerate"
    assert diff.target_scores[0] == pytest.approx(logit.target_scores[0] - other.target_scores[0], abs=1e-4)
    # IG is linear in f: attributions of a difference are the difference of attributions
    np.testing.assert_allclose(diff.scores, logit.scores - other.scores, atol=1e-4)
    pdiff = attribute(
        lm, "for i in", target_text=" range", step_function="probability_diff", contrast_token=" enumerate", n_steps=16
    )
    assert -1.0 <= pdiff.target_scores[0] <= 1.0


def test_sequence_classifier_explains_the_predicted_class(tiny_classifier):
    res = attribute(tiny_classifier, "great code", n_steps=32)
    assert len(res.target_tokens) == 1 and res.target_kind == "class"
    target = res.target_tokens[0]
    assert target.text in {"neg", "neu", "pos"}
    assert res.scores.shape == (1, len(res.source_tokens))
    assert np.all(np.isfinite(res.scores))
    assert abs(res.deltas[0]) < 0.01 * abs(res.target_scores[0] - res.baseline_scores[0]) + 1e-6
    probs = [
        attribute(tiny_classifier, "great code", target_class=c, method="saliency").target_tokens[0].probability
        for c in ("neg", "neu", "pos")
    ]
    assert target.probability == pytest.approx(max(probs), rel=1e-5)
    assert sum(probs) == pytest.approx(1.0, rel=1e-5)
    by_index = attribute(tiny_classifier, "great code", target_class=2, method="saliency")
    assert by_index.target_tokens[0].text == "pos"


@pytest.mark.parametrize("path", ["body-and-head", "full-logits"])
def test_target_probabilities_are_the_models_softmax(tiny_gpt2, path, monkeypatch):
    """f(x), f(x′) and the probabilities come from one forward; they must equal the model's own."""
    import torch

    from tokenlight.engine import heads

    if path == "full-logits":  # as for a model whose logits are not head(body(x))
        monkeypatch.setitem(heads._SPLIT_CACHE, tiny_gpt2.model, None)
    result = attribute(tiny_gpt2, "def f(x):", target_text=" return x", method="saliency", step_function="logit")
    ids = [t.id for t in result.source_tokens] + [t.id for t in result.target_tokens[:-1]]
    with torch.no_grad():
        logits = tiny_gpt2.model(input_ids=torch.tensor([ids])).logits[0, -len(result.target_tokens) :].float()
    expected = logits.softmax(-1)[range(len(result.target_tokens)), [t.id for t in result.target_tokens]]
    np.testing.assert_allclose([t.probability for t in result.target_tokens], expected.numpy(), rtol=1e-5)
    np.testing.assert_allclose(
        result.target_scores,
        logits.gather(1, torch.tensor([[t.id] for t in result.target_tokens]))[:, 0].numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_byte_pieces_show_as_0xNN_never_empty_or_replacement_characters():
    """A generated byte piece that is not a whole character (the first two of "→"'s three) has an
    empty text (its span waits for the character); its label spells the bytes out."""
    from tokenlight import load_model
    from tokenlight.engine.tokens import byte_label, continuation_tokens, tokenize_with_spans

    tok = load_model().tokenizer
    ids = tok.encode("→v", add_special_tokens=False)
    arrow = list("→".encode())  # [0xE2, 0x86, 0x92]
    assert len(ids) >= 3  # the embedded byte-level BPE splits "→" into byte pieces
    text, tokens = continuation_tokens(tok, ids)
    assert text == "→v"
    labels = [t.label for t in tokens]
    shown = "".join(t.label if t.label is not None else t.text for t in tokens)
    assert "\ufffd" not in shown and all(t.label != "" for t in tokens)
    # every byte of the arrow is spelled out, in order, by the pieces that hold it
    assert "".join(lbl for lbl in labels if lbl is not None).startswith("".join(f"<0x{b:02X}>" for b in arrow[:2]))
    assert tokens[0].text == "" and tokens[0].label == f"<0x{arrow[0]:02X}>"
    # a token that decodes cleanly keeps no label; in the prompt too
    assert byte_label(tok, tok.encode("def", add_special_tokens=False)[0]) is None
    prompt = tokenize_with_spans(tok, "x → y", add_special_tokens=False, add_bos=False)
    pieces = [t for t in prompt if t.text == "→"]
    assert len(pieces) >= 2 and all(t.label is not None and t.label.startswith("<0x") for t in pieces)
