"""``tokenlight compare``, ``attribute --evaluate`` and ``attribute --against`` from the command line."""

from __future__ import annotations

import json

from tokenlight.cli import main


def test_compare_prints_the_table_refusals_and_a_recommendation(capsys):
    code = main(
        [
            "compare",
            "def add(a, b):",
            "--target-text",
            " return",
            "--methods",
            "saliency,occlusion,nope",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "deletion AUC" in out and "saliency" in out and "occlusion" in out
    assert "refused or failed:" in out and "nope: unknown method 'nope'" in out
    assert "recommended: " in out and "highest deletion AUC" in out


def test_compare_json(capsys):
    code = main(["compare", "x = 1", "--target-text", " + 2", "--methods", "saliency", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [m["id"] for m in report["methods"]] == ["saliency"]
    assert report["recommendation"]["method"] == "saliency"


def test_evaluate_in_json_and_html(capsys, tmp_path):
    base = ["attribute", "x = [1, 2", "--target-text", ", 3", "--method", "saliency", "--evaluate"]
    assert main([*base, "--format", "json", "--random-orders", "2"]) == 0
    faith = json.loads(capsys.readouterr().out)["faithfulness"]
    assert faith["randomOrders"] == 2 and len(faith["targets"]) == 2
    assert set(faith["targets"][0]["comprehensiveness"]) == {"0.05", "0.1", "0.2"}
    out = tmp_path / "r.html"
    assert main([*base, "--format", "html", "--output", str(out)]) == 0
    page = out.read_text()
    assert "<svg" in page and "<polyline" in page and "<script" not in page and "Faithfulness" in page


def test_against_of_an_input_with_itself_is_zero(capsys):
    assert main(["attribute", "x = 1", "--against", "x = 1", "--target-text", " + 2", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert all(d == 0.0 for row in report["aligned"] for d in row["difference"])


def test_against_refuses_html(capsys):
    assert main(["attribute", "x", "--against", "y", "--format", "html"]) == 2
    assert "--against writes json or term" in capsys.readouterr().err
