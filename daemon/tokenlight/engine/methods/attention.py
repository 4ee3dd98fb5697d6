"""Attention weights, shown in the same layout as attributions — and labelled as what they are.

For target t (predicted at position p = S−1+t), the weights with which position p attends to every
earlier position: the last layer's, averaged over heads (``layers="last"``, default), or averaged over
all layers and heads (``layers="mean"``). Attention is not an attribution: it says where a layer looked,
not what changed the output (Jain & Wallace 2019); it has no baseline, no sign and no delta. It is here
because users compare against it.

One forward pass with attention weights, for all targets at once. The model's attention is switched to
the eager implementation for that pass (fused kernels do not return weights) and switched back.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError
from ..heads import length_limit, reset_rotary_state
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method


@register_method
class Attention(AttributionMethod):
    id = "attention"
    label = "Attention weights"
    summary = "Attention weights of the predicting position (not an attribution)."
    description = (
        "Not an attribution: the attention weights from each target's predicting position to earlier tokens "
        "(last layer, mean over heads; or mean over all layers with layers=mean). Where the model looked, "
        "not what changed its output. 1 forward, no baseline, no delta."
    )
    family = "attention"
    parameters = ("layers",)
    uses_step_function = False
    caveat = "Not an attribution: where the model looked, not what changed its output."

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        model, ids, positions = problem.model, problem.input_ids, problem.target_positions
        if model is None or ids is None or positions is None:
            raise InputError("attention weights need a causal language model's own attention layers")
        layers = problem.options.get("layers") or "last"
        if layers not in ("last", "mean"):
            raise InputError(f"layers must be 'last' or 'mean' (got {layers!r})")
        # one forward for all, except on models whose outputs depend on the total length (heads.py):
        # there, each target past the limit is read from a forward over its own prefix
        limit = length_limit(model.config)
        shared = ids.shape[0] if limit is None else min(ids.shape[0], limit)
        weights = {shared: _mean_weights(model, ids[:shared], layers)}
        scores = torch.zeros(problem.n_targets, ids.shape[0], dtype=torch.float64, device=ids.device)
        for t, p in enumerate(positions.tolist()):
            length = shared if p < shared else p + 1
            if length not in weights:
                weights[length] = _mean_weights(model, ids[:length], layers)
            scores[t, : p + 1] = weights[length][p, : p + 1]
        return MethodOutput(scores)


def _mean_weights(model: torch.nn.Module, ids: torch.Tensor, layers: str) -> torch.Tensor:
    """``[L, L]``: the last layer's (or every layer's) attention weights, averaged over heads."""
    reset_rotary_state(model)
    attentions = _attention_weights(model, ids)  # per layer [heads, L, L]
    stacked = attentions[-1:] if layers == "last" else attentions
    return torch.stack([a.to(torch.float64).mean(0) for a in stacked]).mean(0)


def _attention_weights(model: Any, ids: torch.Tensor) -> list[torch.Tensor]:
    previous = getattr(model.config, "_attn_implementation", None)
    switch = hasattr(model, "set_attn_implementation") and previous not in (None, "eager")
    try:
        if switch:
            model.set_attn_implementation("eager")
        with torch.no_grad():
            out = model(input_ids=ids.unsqueeze(0), output_attentions=True, use_cache=False)
    except TypeError as exc:  # a model whose forward takes no ids or attention flags (hand-written)
        raise InputError(
            f"{type(model).__name__} cannot return attention weights ({exc}); use a gradient method instead"
        ) from None
    finally:
        if switch:
            model.set_attn_implementation(previous)
    if not out.attentions or out.attentions[0] is None:
        raise InputError(f"{type(model).__name__} does not return attention weights")
    return [a[0] for a in out.attentions]
