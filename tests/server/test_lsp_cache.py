"""The results cache: a repeat is served from disk, a corrupt file is ignored and replaced (through
the daemon), and the cache's own rules (atomic files, foreign files, LRU size limit, unwritable
folder, keys that cannot escape the folder) in-process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from lsp_harness import lsp_range

from option_values import non_default_value
from tokenlight.cache import ResultCache, cache_key
from tokenlight.engine.options import EXECUTION, LSP, list_options
from tokenlight.engine.result import Attribution, ModelInfo
from tokenlight.engine.tokens import Token
from tokenlight.paths import default_cache_dir


def _files(cache_dir: Path) -> set[Path]:
    return set(cache_dir.glob("??/*.msgpack"))


def test_repeat_is_cached_and_corrupt_file_is_recomputed(daemon, new_uri, cache_dir):
    uri = new_uri()
    text = "class Cache:\n    def get(self, key):\n        return self.data[key]\n"
    daemon.open(uri, text)
    rng = lsp_range((0, 0), (1, 23))
    params = {"target": {"kind": "generate", "maxNewTokens": 2}, "options": {"nSteps": 6}}
    before = _files(cache_dir)
    hits = daemon.call("tokenlight/status", {})["cache"]["hits"]

    first = daemon.attribute(uri, rng, **params)
    (written,) = _files(cache_dir) - before
    second = daemon.attribute(uri, rng, **params)
    assert first["cached"] is False and second["cached"] is True
    assert second["scores"] == first["scores"] and second["deltas"] == first["deltas"]
    assert [t["text"] for t in second["targetTokens"]] == [t["text"] for t in first["targetTokens"]]
    status = daemon.call("tokenlight/status", {})
    assert status["cache"]["hits"] == hits + 1 and status["cache"]["entries"] >= 1

    # any other option is another key
    other = daemon.attribute(uri, rng, target=params["target"], options={"nSteps": 7})
    assert other["cached"] is False

    written.write_bytes(written.read_bytes()[:40])  # truncated, as by a crash mid-write elsewhere
    third = daemon.attribute(uri, rng, **params)
    assert third["cached"] is False and third["scores"] == first["scores"]
    fourth = daemon.attribute(uri, rng, **params)
    assert fourth["cached"] is True  # the corrupt file was replaced by a good one


def test_execution_options_share_the_cached_result(daemon, new_uri):
    """Options of the execution group change speed and memory only, so a repeat that sets each of
    them (every one the editor can send, taken from the registry) is served the stored result; an
    option that changes the numbers still misses."""
    uri = new_uri()
    daemon.open(uri, "def area(r):\n    return 3.14159 * r * r\n")
    rng = lsp_range((0, 0), (1, 10))
    target = {"kind": "generate", "maxNewTokens": 2}
    first = daemon.attribute(uri, rng, target=target, options={"nSteps": 5})
    assert first["cached"] is False
    execution = [o for o in list_options(LSP) if o.group == EXECUTION]
    assert {o.name for o in execution} >= {"internal_batch_size", "memory_budget", "compile_layers"}
    for option in execution:
        again = daemon.attribute(uri, rng, target=target, options={"nSteps": 5, option.wire: non_default_value(option)})
        assert again["cached"] is True, option.name
        assert again["scores"] == first["scores"]
    every = {o.wire: non_default_value(o) for o in execution}
    assert daemon.attribute(uri, rng, target=target, options={"nSteps": 5, **every})["cached"] is True
    assert daemon.attribute(uri, rng, target=target, options={"nSteps": 6})["cached"] is False


# ----------------------------------------------------------------------------------------------
# ResultCache in-process


def _result(n_targets: int = 2, tag: str = "x") -> Attribution:
    sources = [Token("<bos>", 0, None, None, True), Token(tag, 5, 0, len(tag), False)]
    targets = [Token(f"t{i}", 10 + i, None, None, False, 0.5) for i in range(n_targets)]
    scores = np.full((n_targets, 2 + n_targets), np.nan, dtype=np.float32)
    for t in range(n_targets):
        scores[t, : 2 + t] = np.arange(2 + t, dtype=np.float32) + t
    return Attribution(
        prompt=tag,
        source_tokens=sources,
        target_tokens=targets,
        scores=scores,
        deltas=np.zeros(n_targets, dtype=np.float32),
        target_scores=np.ones(n_targets, dtype=np.float32),
        baseline_scores=np.zeros(n_targets, dtype=np.float32),
        model=ModelInfo("m", "cpu", "float32"),
        method="integrated_gradients",
        step_function="logit",
        baseline="zero",
        n_steps=8,
        elapsed_ms=1.0,
    )


def test_put_get_round_trip_is_exact_and_atomic(tmp_path):
    cache = ResultCache(tmp_path / "c", max_bytes=10**6)
    key = cache_key({"prompt": "x"})
    assert cache.get(key) is None and cache.misses == 1
    assert cache.put(key, _result())
    assert cache.get(key) == _result() and cache.hits == 1
    assert cache.entries() == 1
    leftovers = [p.name for p in (tmp_path / "c").rglob("*") if p.is_file() and not p.name.endswith(".msgpack")]
    assert leftovers == []  # the temporary file was renamed into place
    assert cache.path_for(key).parent.name == key[:2]


def test_foreign_and_corrupt_files_are_ignored_and_replaced(tmp_path):
    cache = ResultCache(tmp_path, max_bytes=10**6)
    a, b = cache_key({"k": "a"}), cache_key({"k": "b"})
    cache.put(a, _result(tag="a"))
    # a valid cache file under the wrong name (copied, renamed by hand): not b's result
    cache.path_for(b).parent.mkdir(parents=True, exist_ok=True)
    cache.path_for(b).write_bytes(cache.path_for(a).read_bytes())
    assert cache.get(b) is None and not cache.path_for(b).exists()
    for garbage in (b"", b"\x00\x01not msgpack", b"\x93\x01\x02\x03", cache.path_for(a).read_bytes()[:-7]):
        cache.path_for(b).write_bytes(garbage)
        assert cache.get(b) is None
    assert cache.put(b, _result(tag="b")) and cache.get(b) == _result(tag="b")


def test_size_limit_evicts_least_recently_used(tmp_path):
    probe = ResultCache(tmp_path / "probe", max_bytes=10**6)
    probe.put(cache_key({"probe": 1}), _result())
    size = probe.total_bytes()
    cache = ResultCache(tmp_path / "c", max_bytes=int(size * 3.5))
    keys = [cache_key({"n": i}) for i in range(4)]
    for i, key in enumerate(keys[:3]):
        cache.put(key, _result())
        os.utime(cache.path_for(key), (time.time() - 100 + i, time.time() - 100 + i))
    assert cache.get(keys[0]) is not None  # a hit makes keys[0] the most recently used
    cache.put(keys[3], _result())  # over the limit: the least recently used (keys[1]) goes
    assert not cache.path_for(keys[1]).exists()
    assert all(cache.path_for(k).exists() for k in (keys[0], keys[2], keys[3]))
    assert cache.total_bytes() <= cache.max_bytes


def test_unwritable_folder_never_breaks_the_caller(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = ResultCache(blocker / "results", max_bytes=10**6)
    key = cache_key({"x": 1})
    assert cache.put(key, _result()) is False
    assert cache.get(key) is None and cache.entries() == 0
    assert "continuing without caching" in caplog.text


def test_keys_cannot_become_paths_outside_the_folder(tmp_path):
    cache = ResultCache(tmp_path, max_bytes=10**6)
    for bad in ("../../etc/passwd", "/abs", "A" * 64, "0" * 63, "0" * 64 + "/x", ""):
        with pytest.raises(ValueError):
            cache.path_for(bad)
    assert cache.path_for("0" * 64).resolve().is_relative_to(tmp_path.resolve())


def test_zero_size_disables_and_default_folder_follows_environment(tmp_path, monkeypatch):
    off = ResultCache(tmp_path, max_bytes=0)
    assert not off.enabled and off.put(cache_key({}), _result()) is False and off.entries() == 0
    monkeypatch.setenv("TOKENLIGHT_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("TOKENLIGHT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and os.uname().sysname != "Darwin":
        assert default_cache_dir() == tmp_path / "xdg" / "tokenlight" / "results"


def test_cache_key_is_canonical():
    assert cache_key({"a": 1, "b": [1, "é"]}) == cache_key({"b": [1, "é"], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})
    assert len(cache_key({})) == 64
