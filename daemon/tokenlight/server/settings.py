"""The ``tokenlight.*`` settings: defaults for requests that leave an option out.

They arrive in ``initializationOptions`` and in ``workspace/didChangeConfiguration`` (under a
``tokenlight`` key). A bad value is reported and ignored rather than failing the whole update, so one
typo in settings.json never leaves the daemon unconfigured.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

# camelCase setting -> (field, accepted types); None is always accepted and means "default"
_KEYS: dict[str, tuple[str, tuple[type, ...]]] = {
    "model": ("model", (str,)),
    "device": ("device", (str,)),
    "dtype": ("dtype", (str,)),
    "method": ("method", (str,)),
    "nSteps": ("n_steps", (int,)),
    "baseline": ("baseline", (str,)),
    "stepFunction": ("step_function", (str,)),
    "maxNewTokens": ("max_new_tokens", (int,)),
}
# keys that only clients use, accepted silently: a client that answers the daemon's
# workspace/configuration pull sends its whole tokenlight section. The VS Code extension's own
# (extension/package.json; a test checks that each of its settings is here or in _KEYS), then the
# names other clients and earlier versions used.
_CLIENT_ONLY = {
    "contrastToken",  # sent per request as options.contrastToken
    "normalization",
    "normalizationScale",
    "palette",
    "pythonPath",
    "server",  # server.address, server.token: where the extension finds the daemon
    "colorScheme",
    "python",
    "remote",
    "remoteAddress",
    "token",
    "trace",
}


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # None: the embedded tokenlight-tiny-py
    device: str = "auto"
    dtype: str = "auto"
    method: str = "integrated_gradients"
    n_steps: int | None = None  # None: the method's own default
    baseline: str = "zero"
    step_function: str = "logit"
    max_new_tokens: int = 8

    def updated(self, raw: Any) -> tuple[Settings, list[str]]:
        """These settings with ``raw``'s values applied, and a list of problems (ignored keys)."""
        if raw is None:
            return self, []
        if not isinstance(raw, dict):
            return self, [f"tokenlight settings must be an object, got {type(raw).__name__}"]
        changes: dict[str, Any] = {}
        problems: list[str] = []
        defaults = Settings()
        for key, value in raw.items():
            if key not in _KEYS:
                if key not in _CLIENT_ONLY:
                    problems.append(f"unknown setting tokenlight.{key} (ignored)")
                continue
            name, kinds = _KEYS[key]
            if value is None or value == "":
                changes[name] = getattr(defaults, name)
            elif isinstance(value, bool) or not isinstance(value, kinds):
                problems.append(f"tokenlight.{key} must be a {kinds[0].__name__}, got {value!r} (ignored)")
            elif isinstance(value, int) and value < 1:
                problems.append(f"tokenlight.{key} must be at least 1, got {value} (ignored)")
            else:
                changes[name] = value
        return replace(self, **changes), problems

    def as_dict(self) -> dict[str, Any]:
        by_field = {name: key for key, (name, _) in _KEYS.items()}
        return {by_field[f.name]: getattr(self, f.name) for f in fields(self)}


def section(settings: Any) -> Any:
    """The ``tokenlight`` part of a didChangeConfiguration payload (clients send the whole tree)."""
    if isinstance(settings, dict) and "tokenlight" in settings:
        return settings["tokenlight"]
    return None
