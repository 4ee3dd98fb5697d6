"""Step functions over LSP: ``tokenlight/stepFunctions`` lists every id a client may name (the
built-ins and an installed package's entry point), an entry point attributes by its name, an
unknown id is an error that says where the ids come from, and ``module:function`` stays refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lsp_harness import Daemon, lsp_range
from pygls.exceptions import JsonRpcException

from tokenlight.engine.step_functions import BUILTIN_STEP_FUNCTIONS

TEXT = "def add(a, b):\n    return a + b\n"
INVALID_PARAMS = -32602


def _plugin(root: Path) -> Path:
    """An installed package (a dist-info on the path) offering the step function ``margin``."""
    (root / "margin_pkg.py").write_text(
        "def margin(logits, target_id, **context):\n"
        '    """the target logit minus the runner-up logit"""\n'
        "    top = logits.topk(2, dim=-1).values\n"
        "    return logits[:, target_id] - top[:, 1]\n"
    )
    dist = root / "margin_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: margin-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tokenlight.step_functions]\nmargin = margin_pkg:margin\n")
    return root


@pytest.fixture(scope="module")
def plugin_daemon(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
    site = _plugin(tmp_path_factory.mktemp("site"))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), *([old] if old else [])])
    try:
        d, _ = Daemon.start(tmp_path_factory.mktemp("daemon"), cache_dir)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    yield d
    d.close()


def test_lists_builtins_and_the_installed_entry_point(plugin_daemon):
    listed = plugin_daemon.call("tokenlight/stepFunctions", {})
    ids = [s["id"] for s in listed]
    assert ids[: len(BUILTIN_STEP_FUNCTIONS)] == list(BUILTIN_STEP_FUNCTIONS)
    by_id = {s["id"]: s for s in listed}
    assert {by_id[i]["origin"] for i in BUILTIN_STEP_FUNCTIONS} == {"builtin"}
    assert by_id["margin"]["origin"] == "entryPoint"
    assert by_id["margin"]["description"] == "the target logit minus the runner-up logit"
    assert by_id["logit_diff"]["needsContrast"] is True and by_id["logit"]["needsContrast"] is False
    assert by_id["kl_divergence"]["needsSequence"] is True
    assert not any(":" in i for i in ids)


def test_an_entry_point_id_attributes_and_module_function_stays_refused(plugin_daemon, new_uri):
    uri = new_uri()
    plugin_daemon.open(uri, TEXT)
    rng = lsp_range((0, 0), (0, 14))
    res = plugin_daemon.attribute(
        uri,
        rng,
        method="saliency",
        target={"kind": "text", "text": "\n    return"},
        options={"stepFunction": "margin"},
    )
    assert res["stepFunction"] == "margin"
    assert len(res["targetScores"]) == len(res["targetTokens"]) > 0
    assert all(isinstance(v, float) for v in res["targetScores"])

    with pytest.raises(JsonRpcException) as info:
        plugin_daemon.attribute(uri, rng, method="saliency", options={"stepFunction": "margin_pkg:margin"})
    assert info.value.code == INVALID_PARAMS and "entry point" in info.value.message


def test_an_unknown_id_names_the_ids_and_where_they_come_from(plugin_daemon, new_uri):
    uri = new_uri()
    plugin_daemon.open(uri, TEXT)
    with pytest.raises(JsonRpcException) as info:
        plugin_daemon.attribute(uri, lsp_range((0, 0), (0, 14)), method="saliency", options={"stepFunction": "vibes"})
    message = info.value.message
    assert info.value.code == INVALID_PARAMS, message
    assert "unknown step function 'vibes'" in message
    assert "margin" in message and "logit" in message and "tokenlight/stepFunctions" in message
    assert "module:function" not in message  # the server refuses those: never offered
    assert plugin_daemon.call("tokenlight/status", {})["busy"] is False


@pytest.mark.parametrize("request_name", ["tokenlight/compare", "tokenlight/against"])
def test_compare_and_against_refuse_an_unknown_id_the_same_way(plugin_daemon, new_uri, request_name):
    uri = new_uri()
    plugin_daemon.open(uri, TEXT)
    rng = lsp_range((0, 0), (0, 14))
    params = {"textDocument": {"uri": uri}, "range": rng, "options": {"stepFunction": "vibes"}}
    if request_name == "tokenlight/against":
        params["otherRange"] = rng
    with pytest.raises(JsonRpcException) as info:
        plugin_daemon.call(request_name, params)
    assert info.value.code == INVALID_PARAMS
    assert "unknown step function 'vibes'; the daemon has: " in info.value.message
