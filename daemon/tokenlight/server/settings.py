"""The ``tokenlight.*`` settings: defaults for requests that leave an option out.

They arrive in ``initializationOptions`` and in ``workspace/didChangeConfiguration`` (under a
``tokenlight`` key). A bad value is reported and ignored rather than failing the whole update, so one
typo in settings.json never leaves the daemon unconfigured.

The settings are the model, device, dtype and method, and every option the spec marks as a setting
(``engine/options.py``: ``setting=True``), under its wire name, with the spec's type, range and default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ..engine.errors import InputError
from ..engine.options import DEFAULT_METHOD, LSP, Option, list_options

# keys that only clients use, accepted silently: a client that answers the daemon's
# workspace/configuration pull sends its whole tokenlight section. The VS Code extension's own
# (extension/package.json; a test checks that each of its settings is here, in _FIXED or an option setting), then the
# names other clients and earlier versions used.
_CLIENT_ONLY = {
    "contrastToken",  # sent per request as options.contrastToken
    "normalization",
    "normalizationScale",
    "palette",
    "pythonPath",
    "specialTokensInScale",  # whether BOS and other special tokens set the colour scale (UI only)
    "server",  # server.address, server.token: where the extension finds the daemon
    "colorScheme",
    "python",
    "remote",
    "remoteAddress",
    "token",
    "trace",
}
# the settings that are not attribution options: camelCase key -> field
_FIXED = {"model": "model", "device": "device", "dtype": "dtype", "method": "method"}


def setting_options() -> dict[str, Option]:
    """``{"nSteps": Option(n_steps), ...}``: the options that have a daemon setting."""
    return {o.wire: o for o in list_options() if o.setting}


def _option_defaults() -> Mapping[str, Any]:
    return MappingProxyType({o.name: o.default for o in setting_options().values()})


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # None: the embedded tokenlight-tiny-py
    device: str = "auto"
    dtype: str = "auto"
    method: str = DEFAULT_METHOD
    # Python option name -> the configured default (None: the engine's own default)
    options: Mapping[str, Any] = field(default_factory=_option_defaults)

    def updated(self, raw: Any) -> tuple[Settings, list[str]]:
        """These settings with ``raw``'s values applied, and a list of problems (ignored keys)."""
        if raw is None:
            return self, []
        if not isinstance(raw, dict):
            return self, [f"tokenlight settings must be an object, got {type(raw).__name__}"]
        fixed: dict[str, Any] = {}
        options = dict(self.options)
        problems: list[str] = []
        defaults = Settings()
        by_wire = setting_options()
        for key, value in raw.items():
            if key in _FIXED:
                if value is None or value == "":
                    fixed[_FIXED[key]] = getattr(defaults, _FIXED[key])
                elif not isinstance(value, str):
                    problems.append(f"tokenlight.{key} must be a string, got {value!r} (ignored)")
                else:
                    fixed[_FIXED[key]] = value
            elif key in by_wire:
                option = by_wire[key]
                try:
                    options[option.name] = (
                        defaults.options[option.name]
                        if value is None or value == ""
                        else option.validate(value, f"tokenlight.{key}", registries=False)
                    )
                except InputError as exc:
                    problems.append(f"{exc} (ignored)")
            elif key not in _CLIENT_ONLY:
                problems.append(f"unknown setting tokenlight.{key} (ignored)")
        return replace(self, **fixed, options=MappingProxyType(options)), problems

    def request_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """A request's options: what it ``given`` (Python names), else the configured setting (of the
        options a request can carry: ``maxNewTokens`` travels in the request's target instead)."""
        requestable = {o.name for o in list_options(LSP)}
        merged = {name: value for name, value in self.options.items() if value is not None and name in requestable}
        merged.update({name: value for name, value in given.items() if value is not None})
        return merged

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: getattr(self, name) for key, name in _FIXED.items()}
        out.update({wire: self.options[o.name] for wire, o in setting_options().items()})
        return out


def section(settings: Any) -> Any:
    """The ``tokenlight`` part of a didChangeConfiguration payload (clients send the whole tree)."""
    if isinstance(settings, dict) and "tokenlight" in settings:
        return settings["tokenlight"]
    return None
