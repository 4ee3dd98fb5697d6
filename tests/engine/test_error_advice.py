"""Errors whose remedy depends on the caller name what applies to that caller: the command line's
flags and input (TEXT or a range of --file), the Python API's keyword; never a setting that does not
exist (there is no ``tokenlight.allowDownload``)."""

from __future__ import annotations

import pytest

from tokenlight import load_model
from tokenlight.cli import main
from tokenlight.engine.errors import ContextLengthError, ModelNotCachedError

MISSING = "someone/missing-model"


def _cli_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_cli_missing_model_names_its_own_flag(capsys):
    err = _cli_error(["attribute", "x", "--model", MISSING], capsys)
    assert "rerun with --allow-download" in err and f"hf download {MISSING}" in err
    assert "allowDownload" not in err


def test_python_api_missing_model_names_the_keyword():
    with pytest.raises(ModelNotCachedError) as info:
        load_model(MISSING)
    assert "allow_download=True" in str(info.value) and "--allow-download" not in str(info.value)


def _prompt_of(tokenizer, n_tokens: int) -> str:
    """A prompt the embedded tokenizer (BOS added) makes exactly ``n_tokens`` tokens of."""
    text = ""
    while len(tokenizer(text)["input_ids"]) + 1 < n_tokens:
        text += "x"
    assert len(tokenizer(text)["input_ids"]) + 1 == n_tokens
    return text


def test_cli_prompt_too_long_as_text_says_shorten_the_prompt(capsys):
    err = _cli_error(["attribute", "x = 1\n" * 400], capsys)
    assert "accepts 512: shorten the prompt" in err and "select" not in err


def test_cli_prompt_too_long_from_a_file_names_its_range(tmp_path, capsys):
    source = tmp_path / "long.py"
    source.write_text("x = 1\n" * 400, encoding="utf-8")
    err = _cli_error(["attribute", "--file", str(source)], capsys)
    assert f"accepts 512: give a shorter range of {source} with --start/--end" in err and "select" not in err


@pytest.mark.parametrize(
    ("target", "fewer"),
    [(["--max-new-tokens", "20"], "lower --max-new-tokens"), (["--target-text", " y" * 20], "shorten --target-text")],
)
def test_cli_prompt_plus_targets_too_long_names_the_target_flag(tokenizer, capsys, target, fewer):
    prompt = _prompt_of(tokenizer, 505)
    err = _cli_error(["attribute", prompt, "--method", "saliency", *target], capsys)
    assert "exceeds tokenlight-tiny-py's context of 512 tokens: shorten the prompt or " + fewer in err


def test_engine_words_are_neutral(lm):
    from tokenlight import attribute

    with pytest.raises(ContextLengthError) as info:
        attribute(lm, "x = 1\n" * 400, max_new_tokens=1)
    assert str(info.value).endswith("accepts 512: shorten the prompt")
    assert info.value.advise("select less text", "ask for fewer tokens").endswith("accepts 512: select less text")
