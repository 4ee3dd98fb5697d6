"""The ``tokenlight`` command: real runs of the console script, and every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tokenlight.cli import main
from tokenlight.engine import Attribution

TOKENLIGHT = Path(sys.executable).with_name("tokenlight")


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(TOKENLIGHT), *args], capture_output=True, text=True, env=env, timeout=300, **kwargs)


def test_attribute_in_the_terminal_with_colours():
    proc = _run(
        "attribute", "def add(a, b):", "--max-new-tokens", "4", "--method", "integrated_gradients", "--color", "always"
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b[48;2;" in out  # 24-bit background colours on the prompt's tokens
    assert "tokenlight-tiny-py" in out and "integrated_gradients" in out
    assert "delta" in out and "f(x')" in out and "generated" in out


def test_json_html_and_msgpack_outputs(tmp_path):
    base = ["attribute", "x = [1, 2", "--max-new-tokens", "3", "--n-steps", "8"]
    proc = _run(*base, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["prompt"] == "x = [1, 2" and len(data["targetTokens"]) == 3
    assert data["sourceTokens"][0]["special"] is True

    packed = tmp_path / "out" / "res.msgpack"
    proc = _run(*base, "--format", "msgpack", "--output", str(packed))
    assert proc.returncode == 0, proc.stderr
    res = Attribution.from_msgpack(packed.read_bytes())
    assert res.to_json_dict()["scores"] == data["scores"]  # greedy + deterministic: same numbers
    assert Attribution.from_msgpack(res.to_msgpack()) == res

    page = tmp_path / "res.html"
    assert _run(*base, "--format", "html", "--output", str(page)).returncode == 0
    tags: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append(tag)

    Collect().feed(page.read_text())
    assert "table" in tags and "script" not in tags


def test_methods_listing():
    proc = _run("methods", "--format", "json")
    assert proc.returncode == 0
    ids = {m["id"]: m for m in json.loads(proc.stdout)}
    assert {"saliency", "input_x_gradient", "integrated_gradients"} <= set(ids)
    assert ids["integrated_gradients"]["convergenceDelta"] is True
    assert ids["saliency"]["convergenceDelta"] is False


def test_file_range_prompt(tmp_path, capsys):
    src = tmp_path / "code.py"
    src.write_text("import os\n\ndef add(a, b):\n    return a + b\n", encoding="utf-8")
    start = src.read_text().index("def")
    assert (
        main(
            [
                "attribute",
                "--file",
                str(src),
                "--start",
                str(start),
                "--end",
                str(start + 14),
                "--max-new-tokens",
                "2",
                "--method",
                "saliency",
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["prompt"] == "def add(a, b):"


def test_document_context_with_spans_in_json_term_and_html(tmp_path, capsys):
    src = tmp_path / "code.py"
    text = "import os\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a -"
    src.write_text(text, encoding="utf-8")
    start = text.index("    return a -")
    base = ["attribute", "--file", str(src), "--start", str(start), "--context", "document"]
    base += ["--granularity", "symbol", "--method", "span_occlusion", "--max-new-tokens", "2"]
    assert main([*base, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prompt"] == text  # the document up to the end of the selection
    labels = [s["label"] for s in data["spans"]]
    assert "def add" in labels and "def sub" in labels
    assert all(len(s["scores"]) == len(data["targetTokens"]) for s in data["spans"])
    assert main([*base, "--top-spans", "2", "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "top 2 of" in out and "lines " in out
    html = tmp_path / "out.html"
    assert main([*base, "--format", "html", "--output", str(html)]) == 0
    page = html.read_text(encoding="utf-8")
    assert "<h2>Spans (symbol)</h2>" in page and "def add" in page


@pytest.mark.parametrize(
    "argv,message",
    [
        (["attribute", "x", "--method", "nope"], "unknown method 'nope'"),
        (["attribute", "x = 1\n" * 400], "accepts 512"),
        (["attribute", "--file", "/no/such/file.py"], "no such file"),
        (["attribute", "x", "--step-function", "logit_diff", "--contrast-token", " two words"], "is 2 tokens"),
        (["attribute", "x", "--baseline", "nothing"], "unknown baseline"),
        (["attribute", "x", "--n-steps", "0"], "--n-steps must be between 1 and 4096"),
        (["attribute", "x", "--max-new-tokens", "0"], "--max-new-tokens must be between 1 and 1024"),
        (["attribute", "x", "--model", "./no/such/model"], "no model folder"),
        (["attribute", "x", "--model", "someone/missing"], "not in the Hugging Face cache"),
        (["attribute", "x", "--file", "y.py"], "either as TEXT or with --file"),
        (["attribute", "x", "--start", "3"], "give --file too"),
        (["attribute", "x", "--max-new-tokens", "two"], "argument --max-new-tokens: 'two' is not a whole number"),
        (["attribute", "x", "--format", "pdf"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_clear_line(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as usage_error:  # argparse's own errors (a bad flag value or choice)
        code = usage_error.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_file_that_is_not_utf8(tmp_path, capsys):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00abc")
    assert main(["attribute", "--file", str(binary)]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and len(err.strip().splitlines()) == 1
    assert main(["attribute", "--file", str(tmp_path), "--max-new-tokens", "1"]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_bad_input_from_the_real_console_script():
    proc = _run("attribute", "x", "--method", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("tokenlight: error: unknown method 'nope'")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_help_lists_every_cli_option_even_with_a_percent_sign_in_its_help(capsys):
    """argparse formats help texts with %: an option's help is escaped, so --help never breaks."""
    from tokenlight.engine.options import CLI, list_options

    with pytest.raises(SystemExit) as info:
        main(["attribute", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in list_options(CLI):
        assert option.flag in out
    assert "--per-layer K" in out and "to under 1%." in " ".join(out.split())  # pgd_bisections: a literal %
