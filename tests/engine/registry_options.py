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


# How far a method's scores may move, ÷ the largest score, when only float rounding changes (another
# sequence length, batch size or kernel schedule); 1e-6 for the methods not named.
# value_zeroing's score is 1 − cos(h, h̃): quadratic in the change a zeroed value makes, so the float32
# rounding of a forward over another length (~1e-7 of |h|, linear in every gradient method) is
# divided by a small change there: measured 2e-6 of the largest score on the random tiny GPT-2
# occlusion's score is f(x) − f(x̃), a difference of two float32 forward values: their rounding
# (~1e-7 of |f|) is relative to |f|, which is several times the largest score here (measured
# 1.09e-6 of it for the 30-target batch, on main before any lever)
# KernelSHAP and LIME fit a least-squares model to such forward values and carry their rounding
# too (measured 1.02e-6 for KernelSHAP with the prefix cache on, in a clean-clone run)
ROUNDING_TOLERANCE = {
    "value_zeroing": 1e-5,
    "occlusion": 5e-6,
    "span_occlusion": 5e-6,
    "kernel_shap": 5e-6,
    "lime": 5e-6,
}


def fast_options(method: str) -> dict[str, Any]:
    """The options every compared run of ``method`` uses (the same in each run)."""
    return {**FAST, "n_samples": SURROGATE_SAMPLES.get(method, FAST["n_samples"]), **PGD.get(method, {})}
