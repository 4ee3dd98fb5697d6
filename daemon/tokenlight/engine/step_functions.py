"""Step functions: the scalar f that each target token's attribution explains.

A step function maps the logits at the positions that predict the targets to one number per target
(``[n, T, V] -> [n, T]``). Contrastive ones answer "why this token rather than that one".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import InputError

# logits [n, T, V], target ids [T], contrast id or None -> [n, T]
StepFn = Callable[[torch.Tensor, torch.Tensor, "int | None"], torch.Tensor]


@dataclass(frozen=True)
class StepFunction:
    id: str
    description: str
    fn: StepFn
    needs_contrast: bool = False
    # softmax-based: needs every vocabulary logit at the target's position (see heads.py)
    full_vocabulary: bool = True


_REGISTRY: dict[str, StepFunction] = {}


def register_step_function(step: StepFunction, *, overwrite: bool = False) -> None:
    if step.id in _REGISTRY and not overwrite:
        raise ValueError(f"step function {step.id!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[step.id] = step


def get_step_function(step_id: str) -> StepFunction:
    try:
        return _REGISTRY[step_id]
    except KeyError:
        raise InputError(f"unknown step function {step_id!r}; choose one of: {', '.join(_REGISTRY)}") from None


def list_step_functions() -> list[StepFunction]:
    return list(_REGISTRY.values())


def _gather(values: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """values [n, T, V], ids [T] -> values[:, t, ids[t]] as [n, T]."""
    index = ids.to(values.device).view(1, -1, 1).expand(values.shape[0], -1, 1)
    return values.gather(-1, index).squeeze(-1)


def _contrast(ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
    assert contrast is not None  # guarded by needs_contrast
    return torch.full_like(ids, contrast)


def _logit(logits: torch.Tensor, ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
    return _gather(logits, ids)


def _probability(logits: torch.Tensor, ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
    return _gather(logits.float().softmax(-1), ids)


def _log_probability(logits: torch.Tensor, ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
    return _gather(logits.float().log_softmax(-1), ids)


def _logit_diff(logits: torch.Tensor, ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
    return _gather(logits, ids) - _gather(logits, _contrast(ids, contrast))


def _probability_diff(logits: torch.Tensor, ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
    probs = logits.float().softmax(-1)
    return _gather(probs, ids) - _gather(probs, _contrast(ids, contrast))


for _step in (
    StepFunction(
        "logit",
        "the target token's logit (default; no softmax coupling to other tokens)",
        _logit,
        full_vocabulary=False,
    ),
    StepFunction("probability", "the target token's softmax probability", _probability),
    StepFunction("log_probability", "the target token's log-probability", _log_probability),
    StepFunction(
        "logit_diff",
        "logit of the target minus logit of the contrast token",
        _logit_diff,
        True,
        full_vocabulary=False,
    ),
    StepFunction(
        "probability_diff",
        "probability of the target minus probability of the contrast token",
        _probability_diff,
        True,
    ),
):
    register_step_function(_step)
