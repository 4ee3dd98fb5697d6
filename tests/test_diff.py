"""``tokenlight diff``: B − A over tokens aligned by text; tokens in one result only are listed."""

from __future__ import annotations

import json
import math

import pytest

from tokenlight import attribute
from tokenlight.cli import main
from tokenlight.diff import diff_results


@pytest.fixture(scope="module")
def results(lm):
    a = attribute(lm, "def add(a, b):\n    return", target_text=" a + b", method="input_x_gradient")
    b = attribute(lm, "def add(a, b, c):\n    return", target_text=" a + b", method="input_x_gradient")
    return a.to_json_dict(), b.to_json_dict()


def test_a_result_minus_itself_is_all_zeros(tmp_path, capsys, results):
    a, _ = results
    path = tmp_path / "a.json"
    path.write_text(json.dumps(a))
    assert main(["diff", str(path), str(path), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["sourceTokens"]) == len(a["sourceTokens"]) and len(d["targetTokens"]) == len(a["targetTokens"])
    cells = [v for row in d["scores"] for v in row]
    assert all(v is None or v == 0.0 for v in cells)
    # the causal boundary stays: row t has NaN (None) exactly where the result does
    for t, row in enumerate(d["scores"]):
        assert [v is None for v in row] == [v is None for v in a["scores"][t]]
    assert d["maxAbsDifference"] == 0.0
    assert d["onlyInA"] == {"sources": [], "targets": []} == d["onlyInB"]


def test_an_edited_prompt_aligns_by_text_and_lists_what_is_new(results):
    a, b = results
    d = diff_results(a, b)
    new = [t["text"] for t in d["onlyInB"]["sources"]]
    assert "c" in "".join(new) and d["onlyInA"]["sources"] == []
    texts_a = [t["text"] for t in a["sourceTokens"]]
    assert [t["text"] for t in d["sourceTokens"]] == texts_a  # every token of A is found in B
    n_src = len(d["sourceTokens"])
    for r, target in enumerate(d["targetTokens"]):
        for k, tok in enumerate(d["sourceTokens"] + d["targetTokens"]):
            ca = tok["indexA"] if k < n_src else len(a["sourceTokens"]) + tok["indexA"]
            cb = tok["indexB"] if k < n_src else len(b["sourceTokens"]) + tok["indexB"]
            va, vb = a["scores"][target["indexA"]][ca], b["scores"][target["indexB"]][cb]
            got = d["scores"][r][k]
            if va is None or vb is None:
                assert got is None
            else:
                assert math.isclose(got, vb - va, abs_tol=1e-12)


def test_diff_of_something_that_is_not_a_result_says_so(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    assert main(["diff", str(path), str(path)]) == 2
    assert "not a Tokenlight result" in capsys.readouterr().err
