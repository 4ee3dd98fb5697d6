"""Options that keep a run over the whole method registry fast (shared by the engine tests)."""

from __future__ import annotations

from typing import Any

# few points and samples keep a run over the whole registry fast
FAST = {"n_steps": 4, "n_samples": 8}
# a surrogate fit with fewer samples than tokens is underdetermined, and then amplifies float
# rounding (not randomness) into large differences: give those enough samples to be well posed
SURROGATE_SAMPLES = {"kernel_shap": 48, "lime": 48, "context_ablation": 48}


def fast_options(method: str) -> dict[str, Any]:
    """The options every compared run of ``method`` uses (the same in each run)."""
    return {**FAST, "n_samples": SURROGATE_SAMPLES.get(method, FAST["n_samples"])}
