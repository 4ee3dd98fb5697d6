"""Encoder-decoder models (BART, T5 built from tiny configs): Integrated Gradients equals captum's
IG run per decoder prefix with the encoder and decoder inputs interpolated together."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

from tokenlight import InputError, attribute
from tokenlight.engine import from_objects

SOURCE = "def add(a, b):"


def _bart(tokenizer):
    from transformers import BartConfig, BartForConditionalGeneration

    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_bos_token_id=None,
        scale_embedding=True,  # Marian's and mBART's choice: the embedding is scaled by √d
    )
    torch.manual_seed(0)
    return BartForConditionalGeneration(config)


def _t5(tokenizer):
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    return T5ForConditionalGeneration(config)


@pytest.fixture(scope="module", params=["bart", "t5"])
def seq2seq(request, tokenizer):
    build = {"bart": _bart, "t5": _t5}[request.param]
    return from_objects(build(tokenizer), tokenizer, name=f"tiny-{request.param}")


def test_ig_equals_captum_per_decoder_prefix(seq2seq):
    n_steps = 16
    res = attribute(seq2seq, SOURCE, target_text=" return a + b", n_steps=n_steps)
    model = seq2seq.model
    sides = [t.side for t in res.source_tokens]
    n_enc = sides.count("encoder")
    assert sides == ["encoder"] * n_enc + ["decoder"]  # then the decoder start token
    assert res.source_tokens[-1].id == model.config.decoder_start_token_id
    assert all(t.side == "decoder" for t in res.target_tokens)
    s, n = len(res.source_tokens), len(res.target_tokens)
    assert res.scores.shape == (n, s + n)
    emb = model.get_input_embeddings()
    enc = emb(torch.tensor([[t.id for t in res.source_tokens[:n_enc]]])).detach()
    dec_ids = [res.source_tokens[-1].id] + [t.id for t in res.target_tokens]
    for t, target in enumerate(res.target_tokens):
        dec = emb(torch.tensor([dec_ids[: t + 1]])).detach()

        def forward(e: torch.Tensor, d: torch.Tensor, _tid: int = target.id) -> torch.Tensor:
            return model(inputs_embeds=e, decoder_inputs_embeds=d).logits[:, -1, _tid]

        a_enc, a_dec = IntegratedGradients(forward).attribute(
            (enc, dec),
            baselines=(torch.zeros_like(enc), torch.zeros_like(dec)),
            n_steps=n_steps,
            method="gausslegendre",
        )
        expected = torch.cat([a_enc.sum(-1)[0], a_dec.sum(-1)[0]]).numpy()
        np.testing.assert_allclose(res.scores[t, : s + t], expected, atol=1e-4 * np.abs(expected).max(), rtol=0)
        assert np.all(np.isnan(res.scores[t, s + t :]))
    with torch.no_grad():
        logits = model(inputs_embeds=enc, decoder_inputs_embeds=emb(torch.tensor([dec_ids[:-1]]))).logits[0]
    np.testing.assert_allclose(
        res.target_scores, [float(logits[t, y.id]) for t, y in enumerate(res.target_tokens)], rtol=1e-5
    )
    change = res.target_scores - res.baseline_scores
    np.testing.assert_allclose(res.deltas, np.nansum(res.scores, 1) - change, atol=1e-4)


@pytest.mark.parametrize("contrast", ["contrast_prompt", "contrast_text", "both"])
def test_contrast_source_and_text_equal_captum_ig_of_the_contrast_function(seq2seq, contrast):
    """logit_diff against another encoder input (contrast prompt) and/or other decoder tokens
    (contrast text, target t against contrast token t after contrast tokens < t): the function
    written out here, run through captum IG per decoder prefix; what the contrast does not replace
    (the encoder input without a contrast prompt, the decoder start) is interpolated in both terms."""
    n_steps = 16
    other_source, other_text = "def sub(x, y):", " return x - y"
    options = {
        "contrast_prompt": {"contrast_prompt": other_source},
        "contrast_text": {"contrast_text": other_text},
        "both": {"contrast_prompt": other_source, "contrast_text": other_text},
    }[contrast]
    res = attribute(
        seq2seq, SOURCE, target_text=" return a + b", step_function="logit_diff", n_steps=n_steps, **options
    )
    model, tok = seq2seq.model, seq2seq.tokenizer
    emb = model.get_input_embeddings()
    s, n = len(res.source_tokens), len(res.target_tokens)
    n_enc = s - 1
    enc = emb(torch.tensor([[t.id for t in res.source_tokens[:n_enc]]])).detach()
    dec_ids = [res.source_tokens[-1].id] + [t.id for t in res.target_tokens]
    fixed_enc = None
    if "contrast_prompt" in options:
        fixed_enc = emb(torch.tensor([tok(other_source)["input_ids"]])).detach()
    ys_other = [t.id for t in res.target_tokens]
    if "contrast_text" in options:
        ys_other = tok(other_text, add_special_tokens=False)["input_ids"][:n]
    for t, target in enumerate(res.target_tokens):
        dec = emb(torch.tensor([dec_ids[: t + 1]])).detach()
        fixed_text = emb(torch.tensor([ys_other[:t]], dtype=torch.long)).detach()

        def forward(e, d, _t: int = t, _y: int = target.id, _fixed_text=fixed_text):
            main = model(inputs_embeds=e, decoder_inputs_embeds=d).logits[:, -1, _y]
            e2 = e if fixed_enc is None else fixed_enc.expand(e.shape[0], -1, -1)
            d2 = (
                d
                if "contrast_text" not in options
                else torch.cat([d[:, :1], _fixed_text.expand(d.shape[0], -1, -1)], 1)
            )
            other = model(inputs_embeds=e2, decoder_inputs_embeds=d2).logits[:, -1, ys_other[_t]]
            return main - other

        a_enc, a_dec = IntegratedGradients(forward).attribute(
            (enc, dec),
            baselines=(torch.zeros_like(enc), torch.zeros_like(dec)),
            n_steps=n_steps,
            method="gausslegendre",
        )
        expected = torch.cat([a_enc.sum(-1)[0], a_dec.sum(-1)[0]]).numpy()
        # a target equal to its contrast token with nothing fixed before it has a difference of 0
        # (captum's: float noise), so the tolerance is relative to the whole result
        scale = float(np.nanmax(np.abs(res.scores)))
        np.testing.assert_allclose(res.scores[t, : s + t], expected, atol=1e-4 * scale, rtol=0)
        with torch.no_grad():
            value = float(forward(enc, dec))
        assert res.target_scores[t] == pytest.approx(value, rel=1e-4, abs=1e-5)
    if "contrast_prompt" in options and "contrast_text" not in options:
        assert np.any(np.abs(res.scores[:, :n_enc]) > 0)  # the source is attributed through the main term
    grouped = attribute(seq2seq, SOURCE, target_text=" return a + b", step_function="logit_diff", n_steps=n_steps,
                        group_targets=False, **options)  # fmt: skip
    np.testing.assert_allclose(grouped.scores, res.scores, atol=1e-5 * np.nanmax(np.abs(res.scores)), equal_nan=True)


def test_generated_targets_and_their_groups(seq2seq):
    res = attribute(seq2seq, SOURCE, max_new_tokens=5, method="input_x_gradient")
    whole = attribute(seq2seq, SOURCE, max_new_tokens=5, method="input_x_gradient", group_targets=False)
    assert 1 <= len(res.target_tokens) <= 5 and res.target_kind == "generate"
    np.testing.assert_allclose(res.scores, whole.scores, atol=1e-6, equal_nan=True)
    assert res.to_json_dict()["sourceTokens"][0]["side"] == "encoder"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"method": "lrp"}, "lrp does not apply to encoder-decoder models"),
        ({"method": "attention"}, "attention does not apply to encoder-decoder models"),
        ({"layer": 0}, "the layer option is for decoder-only models"),
    ],
)
def test_methods_that_cannot_apply_are_refused_by_name(seq2seq, options, message):
    with pytest.raises(InputError, match=message):
        attribute(seq2seq, SOURCE, target_text=" a", **options)


def test_a_saved_encoder_decoder_loads_as_one(tmp_path, tokenizer):
    from tokenlight import load_model

    _bart(tokenizer).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    lm = load_model(str(tmp_path), device="cpu", dtype="float32")
    assert lm.kind == "seq2seq_lm"
    res = attribute(lm, SOURCE, target_text=" a", method="saliency")
    assert res.source_tokens[-1].side == "decoder"


def test_marian_scales_encoder_ids_only_and_the_attributed_function_is_still_the_models(tokenizer):
    """Marian multiplies embed_tokens(ids) by √d in the encoder but takes inputs_embeds as given: the
    attributed inputs must carry that factor, so that f(x) is what the model computes from the ids."""
    from transformers import MarianConfig, MarianMTModel

    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, scale_embedding=True,
    )  # fmt: skip
    torch.manual_seed(0)
    lm = from_objects(MarianMTModel(config), tokenizer, name="tiny-marian")
    res = attribute(lm, SOURCE, target_text=" return a", n_steps=24)
    n_enc = sum(t.side == "encoder" for t in res.source_tokens)
    enc_ids = torch.tensor([[t.id for t in res.source_tokens[:n_enc]]])
    dec_ids = torch.tensor([[res.source_tokens[-1].id] + [t.id for t in res.target_tokens[:-1]]])
    with torch.no_grad():
        logits = lm.model(input_ids=enc_ids, decoder_input_ids=dec_ids).logits[0]
    expected = [float(logits[t, y.id]) for t, y in enumerate(res.target_tokens)]
    np.testing.assert_allclose(res.target_scores, expected, rtol=1e-5, atol=1e-5)
    change = res.target_scores - res.baseline_scores
    assert np.all(np.abs(res.deltas) <= 0.01 * np.abs(change) + 1e-5)
