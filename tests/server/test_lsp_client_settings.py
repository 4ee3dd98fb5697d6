"""Settings only a client uses are accepted silently (docs/protocol.md): no warning in the log or
in the editor for the VS Code extension's own keys, which a client answering the daemon's
workspace/configuration pull sends with the rest of its ``tokenlight`` section."""

from __future__ import annotations

import json
from pathlib import Path

from lsprotocol import types

from tokenlight.server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ONLY = {
    "palette": "viridis",
    "normalizationScale": 2.0,
    "server": {"address": "127.0.0.1:9000", "token": "t"},
    "contrastToken": " b",
}


def _extension_settings() -> dict[str, object]:
    """Each ``tokenlight.*`` setting of the extension's manifest as the client sends it: nested
    under its first name (``tokenlight.server.address`` arrives as ``server: {address}``)."""
    manifest = json.loads((ROOT / "extension" / "package.json").read_text(encoding="utf-8"))
    sections = manifest["contributes"]["configuration"]
    properties = {}
    for section in sections if isinstance(sections, list) else [sections]:
        properties.update(section["properties"])
    nested: dict[str, object] = {}
    for key, spec in properties.items():
        first, *rest = key.removeprefix("tokenlight.").split(".")
        value = spec.get("default")
        nested[first] = {rest[0]: value} if rest else value
    return nested


def test_every_setting_of_the_extension_is_known_to_the_daemon():
    settings = _extension_settings()
    assert set(CLIENT_ONLY) <= set(settings)
    _, problems = Settings().updated(settings)
    assert not [p for p in problems if p.startswith("unknown setting")]


def test_client_only_settings_log_no_warning(daemon):
    daemon.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tokenlight": {**CLIENT_ONLY, "bogusSetting": 1}})
    )
    daemon.settle()
    log = daemon.log_tail(400)
    assert "unknown setting tokenlight.bogusSetting (ignored)" in log  # the log is the right one
    for key in CLIENT_ONLY:
        assert f"unknown setting tokenlight.{key} " not in log
        assert not any(f"tokenlight.{key} " in m.message for m in daemon.messages)
