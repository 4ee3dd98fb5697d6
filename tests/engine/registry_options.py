"""Options that keep a run over the whole method registry fast (shared by the engine tests)."""

from __future__ import annotations

from typing import Any

# few points and samples keep a run over the whole registry fast
FAST = {"n_steps": 4, "n_samples": 8}
# a surrogate fit with fewer samples than tokens is underdetermined, and then amplifies float
# rounding (not randomness) into large differences: give those enough samples to be well posed
SURROGATE_SAMPLES = {"kernel_shap": 48, "lime": 48, "context_ablation": 48}
# PGD sensitivity's search is at most (1 + bisections) × (n_steps + 1) passes over (tokens ×
# competitors) rows per target. Two bisections and one competitor still exercise the bisection
# and the targeted attack (test_pgd_sensitivity.py takes the best over 8); n_steps stays at its default 10, since 4
# PGD steps (Madry's step 2.5·r/n_steps) overshoot at the largest radius and found no flip at all on
# the random tiny GPT-2, leaving nothing to compare
PGD = {"pgd_sensitivity": {"n_steps": 10, "pgd_bisections": 2, "pgd_competitors": 1}}


def fast_options(method: str) -> dict[str, Any]:
    """The options every compared run of ``method`` uses (the same in each run)."""
    return {**FAST, "n_samples": SURROGATE_SAMPLES.get(method, FAST["n_samples"]), **PGD.get(method, {})}
