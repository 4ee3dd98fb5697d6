"""msgpack round-trips exactly; JSON has the documented keys, NaN as null."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tokenlight import attribute
from tokenlight.engine import Attribution

JSON_KEYS = {
    "model",
    "method",
    "stepFunction",
    "baseline",
    "nSteps",
    "prompt",
    "sourceTokens",
    "targetTokens",
    "scores",
    "deltas",
    "targetScores",
    "baselineScores",
    "elapsedMs",
}


@pytest.fixture(scope="module")
def result(lm):
    return attribute(lm, "x = '😀'\n", max_new_tokens=4, baseline="eos", n_steps=8)


def test_msgpack_round_trip_is_exact(result):
    back = Attribution.from_msgpack(result.to_msgpack())
    assert back == result
    assert back.scores.dtype == np.float32 and back.scores.tobytes() == result.scores.tobytes()
    assert np.isnan(back.scores).sum() == np.isnan(result.scores).sum() > 0
    assert back.source_tokens == result.source_tokens and back.target_tokens == result.target_tokens


def test_msgpack_rejects_foreign_data():
    import msgpack

    with pytest.raises(ValueError, match="not a Tokenlight attribution"):
        Attribution.from_msgpack(msgpack.packb({"hello": 1}))


def test_json_has_exactly_the_documented_keys(result):
    data = json.loads(json.dumps(result.to_json_dict()))
    assert set(data) >= JSON_KEYS
    assert set(data["model"]) == {"name", "device", "dtype"}
    assert set(data["sourceTokens"][0]) == {"text", "id", "start", "end", "special"}
    assert set(data["targetTokens"][0]) == {"text", "id", "probability"}
    bos = data["sourceTokens"][0]
    assert bos["special"] and bos["start"] is None and bos["end"] is None
    s, t = len(data["sourceTokens"]), len(data["targetTokens"])
    assert len(data["scores"]) == t and all(len(row) == s + t for row in data["scores"])
    for k, row in enumerate(data["scores"]):
        assert all(v is None for v in row[s + k :]) and all(v is not None for v in row[: s + k])
        assert math.isclose(
            sum(row[: s + k]) - (data["targetScores"][k] - data["baselineScores"][k]), data["deltas"][k], abs_tol=1e-4
        )
    assert data["baselineEqualsInput"] == [0]  # BOS is the EOS baseline token


def test_json_nulls_for_methods_without_delta(lm):
    data = attribute(lm, "a", max_new_tokens=2, method="saliency").to_json_dict()
    assert data["deltas"] is None and data["baselineScores"] is None and data["nSteps"] is None
