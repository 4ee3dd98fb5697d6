"""Every bad input is a TokenlightError with a message that says what to do; the model stays usable."""

from __future__ import annotations

import pytest

from tokenlight import InputError, ModelNotFoundError, TokenlightError, attribute, load_model


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"method": "nope"}, "unknown method 'nope'; choose one of: .*integrated_gradients"),
        ({"baseline": "purple"}, "unknown baseline 'purple'"),
        ({"baseline": "token:not one token"}, "is 3 tokens"),
        ({"step_function": "vibes"}, "unknown step function 'vibes'; choose one of: logit"),
        ({"step_function": "logit_diff"}, "needs a contrast token"),
        ({"step_function": "logit_diff", "contrast_token": " not one"}, "contrast token ' not one' is 2 tokens"),
        ({"contrast_token": " x"}, "only applies to logit_diff"),
        ({"n_steps": 0}, "n_steps must be between 1 and"),
        ({"n_steps": 10**7}, "n_steps must be between 1 and"),
        ({"max_new_tokens": 0}, "max_new_tokens must be between 1"),
        ({"max_new_tokens": 10**6}, "max_new_tokens must be between 1"),
        ({"max_new_tokens": 600}, "exceeds tokenlight-tiny-py's context of 512"),
        ({"internal_batch_size": 0}, "internal_batch_size must be at least 1"),
        ({"integration": "simpson"}, "unknown integration .simpson.; choose one of: auto, gausslegendre"),
        ({"tolerance": 0.0}, "tolerance must be between 0 and 1"),
        ({"tolerance": 5.0}, "tolerance must be between 0 and 1"),
        ({"target_text": ""}, "target text is empty"),
    ],
)
def test_bad_options_are_clear_errors(lm, kwargs, message):
    with pytest.raises(InputError, match=message):
        attribute(lm, "def f():", **kwargs)
    assert attribute(lm, "def f():", max_new_tokens=1, method="saliency").target_tokens


def test_prompt_longer_than_the_context(lm):
    with pytest.raises(InputError, match=r"the prompt is [\d,]+ tokens; tokenlight-tiny-py accepts 512"):
        attribute(lm, "x = 1\n" * 400)


def test_missing_models_say_where_they_looked(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not in the Hugging Face cache"):
        load_model("nobody/no-such-model")
    with pytest.raises(ModelNotFoundError, match="no model folder at"):
        load_model(str(tmp_path / "missing"))
    with pytest.raises(ModelNotFoundError, match=r"has no config\.json"):
        load_model(str(tmp_path))


def test_a_model_that_is_not_a_causal_lm(tmp_path, tokenizer):
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(vocab_size=64, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    ).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(TokenlightError, match="neither a causal language model nor a sequence classifier"):
        load_model(str(tmp_path), device="cpu")


def test_unknown_device_and_dtype():
    with pytest.raises(TokenlightError, match="unknown dtype"):
        load_model(dtype="float7")
    with pytest.raises(TokenlightError, match="unknown device"):
        load_model(device="toaster")


def test_local_folder_round_trip(tmp_path, tiny_gpt2):
    tiny_gpt2.model.save_pretrained(tmp_path)
    tiny_gpt2.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), device="cpu")
    assert loaded.kind == "causal_lm" and loaded.context_length == 64
    res = attribute(loaded, "a = 1", max_new_tokens=2, method="saliency")
    assert res.model.name == str(tmp_path)


def test_classifier_bad_class(tiny_classifier):
    with pytest.raises(InputError, match="unknown class 'maybe'; this model's classes are: neg, neu, pos"):
        attribute(tiny_classifier, "ok", target_class="maybe")
    with pytest.raises(InputError, match="class 7 does not exist"):
        attribute(tiny_classifier, "ok", target_class=7)
    with pytest.raises(InputError, match="needs some text"):
        attribute(tiny_classifier, "")
