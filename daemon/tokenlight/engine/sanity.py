"""The model-parameter randomisation check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

An explanation of a model should change when the model does. We re-initialise the top half of the
model's layers (at least one; seeded), run the same method on the same inputs and targets, and
report the rank correlation of each target's new map with the original. A map that barely changes
(mean Spearman ρ ≥ :data:`FLAG_SPEARMAN`) is flagged: it "does not depend on the model's weights",
so its colours describe the input, not the model.

The layers are re-initialised in place and restored bit for bit afterwards (a ``finally``), rather
than on a deep copy: the worker runs one job at a time, and a copy of a large model may not fit.
The input embeddings and the output head are never touched, so the inputs, the baseline and the
targets are the same on both runs.

Re-initialisation follows the usual transformer scheme (what GPT-2 and most causal LMs use at
initialisation): matrices from N(0, initializer_range²), biases 0, norm scales 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from .errors import InputError
from .ranking import kendall_tau, mean_or_none, spearman
from .seeding import SANITY_STREAM, keyed_generator

FLAG_SPEARMAN = 0.9  # a map whose mean rank correlation with the original is at least this is flagged
MIN_UNITS = 5  # with fewer tokens to rank, a high correlation happens by chance too often to flag
DEFAULT_INIT_STD = 0.02


def layer_stack(model: Any) -> tuple[str, torch.nn.ModuleList]:
    """The model's transformer layers: the ModuleList of same-type blocks holding the most
    parameters (``transformer.h``, ``model.layers``, ...)."""
    best: tuple[int, str, torch.nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.ModuleList) or len(module) == 0:
            continue
        if len({type(m) for m in module}) != 1:
            continue
        size = sum(p.numel() for p in module.parameters())
        if size and (best is None or size > best[0]):
            best = (size, name, module)
    if best is None:
        raise InputError(
            f"the sanity check re-initialises a model's top layers, and {type(model).__name__} has no list of "
            "layers to re-initialise; run without sanity"
        )
    return best[1], best[2]


@contextmanager
def reinitialised_top_layers(model: Any, seed: int) -> Iterator[list[str]]:
    """Inside: the top ⌈n/2⌉ layers re-initialised (seeded); yields their names. After: restored."""
    name, layers = layer_stack(model)
    n_top = max(1, (len(layers) + 1) // 2)
    chosen = list(range(len(layers) - n_top, len(layers)))
    params = [(f"{name}.{i}.{n}", p) for i in chosen for n, p in layers[i].named_parameters()]
    if any(p.device.type == "meta" for _, p in params):
        raise InputError("the sanity check needs the model's layers in memory; this model is offloaded (device_map)")
    std = float(getattr(model.config, "initializer_range", None) or DEFAULT_INIT_STD)
    saved = [p.detach().clone() for _, p in params]
    generator = keyed_generator(seed, SANITY_STREAM)
    try:
        with torch.no_grad():
            for param_name, p in params:
                if p.dim() >= 2:
                    fresh = torch.randn(p.shape, generator=generator, dtype=torch.float32) * std
                    p.copy_(fresh.to(device=p.device, dtype=p.dtype))
                elif param_name.endswith("bias"):
                    p.zero_()
                else:
                    p.fill_(1.0)
        yield [f"{name}.{i}" for i in chosen]
    finally:
        with torch.no_grad():
            for (_, p), original in zip(params, saved, strict=True):
                p.copy_(original)


def sanity_check(model: Any, *, original: np.ndarray, rerun: Callable[[], np.ndarray], seed: int) -> dict[str, Any]:
    """Re-run with the top layers re-initialised; the rank correlations with ``original`` ``[T, U]``."""
    with reinitialised_top_layers(model, seed) as layers:
        randomised = rerun()
    _, stack = layer_stack(model)
    per_target = [
        {"spearman": spearman(original[t], randomised[t]), "kendall": kendall_tau(original[t], randomised[t])}
        for t in range(original.shape[0])
    ]
    rho = mean_or_none([p["spearman"] for p in per_target])
    enough = original.shape[1] >= MIN_UNITS
    flagged = enough and rho is not None and rho >= FLAG_SPEARMAN
    return {
        "layers": layers,
        "totalLayers": len(stack),
        "seed": seed,
        "spearman": rho,
        "kendall": mean_or_none([p["kendall"] for p in per_target]),
        "perTarget": per_target,
        "threshold": FLAG_SPEARMAN,
        "dependsOnWeights": None if rho is None or not enough else not flagged,
        "note": None
        if enough
        else f"only {original.shape[1]} source tokens to rank (fewer than {MIN_UNITS}): too few to judge",
        "message": (
            f"does not depend on the model's weights: with {len(layers)} of {len(stack)} layers re-initialised "
            f"the map keeps a rank correlation of {rho:.2f} with the original"
        )
        if flagged
        else None,
    }
