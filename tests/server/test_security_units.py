"""The remote-mode defences piece by piece, in-process: Host names, model roots (symlinks, ``~``,
Hugging Face ids), the token file, and the serve options that configure them. The same defences
against real hostile clients over real sockets: test_lsp_security.py."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tokenlight.embedded import EMBEDDED_MODEL_NAME, EMBEDDED_MODEL_PATH
from tokenlight.server import serve
from tokenlight.server.auth import Login, runtime_dir, tokens_match, write_token_file
from tokenlight.server.handshake import HostCheck, host_name
from tokenlight.server.model_roots import REFUSED, ModelRoots, public_model_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8765", "127.0.0.1"),
        ("LocalHost.:8765", "localhost"),
        ("[::1]:8765", "::1"),
        ("::1", "::1"),
        ("evil.example", "evil.example"),
    ],
)
def test_host_name_drops_port_brackets_case_and_trailing_dot(header, name):
    assert host_name(header) == name


def test_host_check_loopback_bind_accepts_only_loopback_names():
    check = HostCheck("127.0.0.1")
    assert [check.accepts(h) for h in ("127.0.0.1:1", "localhost:1", "[::1]:1", "127.0.0.2:1")] == [True] * 4
    assert [check.accepts(h) for h in ("evil.example:1", "10.0.0.5:1", "", None)] == [False] * 4


def test_host_check_wildcard_bind_accepts_ip_literals_but_no_foreign_name():
    check = HostCheck("0.0.0.0")
    assert check.accepts("10.0.0.5:8765") and check.accepts("[fe80::1]:8765")
    assert not check.accepts("evil.example:8765") and not check.accepts("10.0.0.5.evil.example:8765")


def _refused(roots: ModelRoots, name: str) -> str:
    with pytest.raises(JsonRpcException) as info:
        roots.check(name)
    assert info.value.message == REFUSED.format(name=name)
    return info.value.message


def test_model_roots_resolve_links_and_dots_before_comparing(tmp_path):
    root, outside = tmp_path / "models", tmp_path / "outside"
    (root / "real").mkdir(parents=True)
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (tmp_path / "shortcut").symlink_to(root / "real", target_is_directory=True)
    roots = ModelRoots([root])
    roots.check(str(root / "real"))
    roots.check(str(root / "not-yet-there"))  # inside a root the engine says what is missing
    roots.check(str(tmp_path / "shortcut"))  # a link from elsewhere into a root
    _refused(roots, str(root / "escape"))  # a link out of a root
    _refused(roots, str(root / ".." / "outside"))
    _refused(roots, "~nosuch-user-tokenlight/model")
    _refused(roots, "bad\x00name")


def test_embedded_model_is_always_allowed(tmp_path):
    roots = ModelRoots([tmp_path])
    for name in (None, "", EMBEDDED_MODEL_NAME, str(EMBEDDED_MODEL_PATH)):
        roots.check(name)


def _hub_cache(base: Path, repo: str) -> Path:
    """A Hugging Face cache holding ``repo``'s config.json, laid out as huggingface_hub does."""
    folder = base / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0123abcd")
    (folder / "snapshots" / "0123abcd").mkdir(parents=True)
    (folder / "snapshots" / "0123abcd" / "config.json").write_text("{}")
    return base


def test_hub_ids_only_when_cached_and_the_cache_is_a_root(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = _hub_cache(tmp_path / "hub", "acme/tiny")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    ModelRoots().check("acme/tiny")  # the default root is the Hugging Face cache
    _refused(ModelRoots(), "acme/not-cached")
    _refused(ModelRoots([tmp_path / "hub" / "models--acme--tiny" / "refs"]), "acme/tiny")  # the cache is no root
    (tmp_path / "acme" / "tiny").mkdir(parents=True)  # a same-named folder in the working directory wins
    _refused(ModelRoots(), "acme/tiny")  # in the engine: refused rather than loaded from outside the roots


def test_public_model_name_hides_folders():
    assert public_model_name("/home/alice/models/llama-7b") == "llama-7b"
    assert public_model_name("gpt2") == "gpt2" and public_model_name("acme/tiny") == "acme/tiny"
    assert public_model_name(None) is None


def test_generated_tokens_are_random_and_long():
    tokens = {Login.given_or_generated(None).token for _ in range(20)}
    assert len(tokens) == 20 and min(map(len, tokens)) >= 43
    given = Login.given_or_generated("mine")
    assert given == Login("mine", generated=False)
    assert tokens_match("mine", "mine") and not tokens_match("mine!", "mine") and not tokens_match(None, "mine")


def test_token_file_is_private_and_falls_back_to_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("sys.platform", "linux")
    assert runtime_dir() == tmp_path / "cache" / "tokenlight" / "runtime"
    path = write_token_file(8765, "tcp://127.0.0.1:8765", "t0ken")
    assert path == runtime_dir() / "daemon-8765.json"
    assert json.loads(path.read_text())["token"] == "t0ken"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert runtime_dir() == tmp_path / "tokenlight"
    monkeypatch.setenv("TOKENLIGHT_RUNTIME_DIR", str(tmp_path / "shared"))
    assert runtime_dir() == tmp_path / "shared"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tcp", "127.0.0.1:0", "--model-root", "/no/such/folder"], "--model-root /no/such/folder: no such folder"),
        (["--ws", "127.0.0.1:0", "--allow-origin", "evil.example"], "'evil.example' is not an origin"),
        (["--ws", "127.0.0.1:0", "--allow-origin", "https://a.example/path"], "is not an origin"),
    ],
)
def test_bad_remote_options_are_one_line_errors(args, message, capsys):
    assert serve.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
