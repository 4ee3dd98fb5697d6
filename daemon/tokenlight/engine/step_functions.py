"""Step functions: the scalar f that each target token's attribution explains.

A step function maps the logits at the positions that predict the targets to one number per target
(``[n, T, V] -> [n, T]``). Contrastive ones answer "why this token rather than that one" (a
contrast token, in the same sequence) or "why this rather than what the model says in another
sequence" (a contrast prompt and/or a multi-token contrast text: :mod:`.contrast` builds that
second sequence, and ``pair`` compares the two distributions).

Besides the built-ins, a step function can be registered at run time
(:func:`register_step_function`), named as ``module:function`` (imported on first use), or shipped
by a package under the entry-point group ``tokenlight.step_functions``. User functions are called as
``fn(logits, target_id, **context) -> values`` with ``logits`` the ``[n, V]`` float logits at the
predicting position for n path points and ``values`` ``[n]``; what they return is checked
(:class:`StepFunctionError` names the function otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from .errors import InputError

# logits [n, T, V], target ids [T], contrast id or None -> [n, T]
StepFn = Callable[[torch.Tensor, torch.Tensor, "int | None"], torch.Tensor]
# logits [n, k, V], target ids [k], the contrast sequence's logits [n, k, V], its target ids [k] -> [n, k]
PairFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
ENTRY_POINT_GROUP = "tokenlight.step_functions"


class StepFunctionError(InputError):
    """A user step function that raised, or returned something other than one value per point."""


@dataclass(frozen=True)
class StepFunction:
    """One step function.

    Attributes:
        id: its name (``--step-function``, ``options.stepFunction``).
        fn: logits ``[n, T, V]``, target ids ``[T]``, the contrast token's id or None -> ``[n, T]``.
        needs_contrast: a difference against something: a contrast token (``fn``), or a contrast
            prompt / contrast text (``pair``).
        full_vocabulary: softmax-based: needs every vocabulary logit at the target's position.
        pair: compares the target's distribution with the contrast sequence's (:mod:`.contrast`);
            None: the step function has no meaning against another sequence.
        needs_sequence: only ``pair`` applies (a contrast prompt or text is required; a contrast
            token is not enough), e.g. ``kl_divergence``.
    """

    id: str
    description: str
    fn: StepFn
    needs_contrast: bool = False
    # softmax-based: needs every vocabulary logit at the target's position (see heads.py)
    full_vocabulary: bool = True
    pair: PairFn | None = None
    needs_sequence: bool = False


_REGISTRY: dict[str, StepFunction] = {}


def register_step_function(step: StepFunction, *, overwrite: bool = False) -> None:
    if step.id in _REGISTRY and not overwrite:
        raise ValueError(f"step function {step.id!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[step.id] = step


def unregister_step_function(step_id: str) -> None:
    """Remove a step function (tests that register a throwaway one clean up with this)."""
    _REGISTRY.pop(step_id, None)


def get_step_function(step_id: str) -> StepFunction:
    """The registered step function ``step_id``; a ``module:function`` is imported and registered
    under that id on first use; an entry point of group ``tokenlight.step_functions`` likewise."""
    if step_id in _REGISTRY:
        return _REGISTRY[step_id]
    if step_id in _entry_points():
        return _load_entry_point(step_id)
    if ":" in step_id:
        return _import_step_function(step_id)
    raise InputError(
        f"unknown step function {step_id!r}; choose one of: {', '.join(s.id for s in list_step_functions())}, "
        "or name your own as module:function"
    )


def list_step_functions() -> list[StepFunction]:
    """The registered step functions, and those that installed packages offer as entry points."""
    for name in _entry_points():
        if name not in _REGISTRY:
            try:
                _load_entry_point(name)
            except InputError:
                continue  # a broken plugin is reported when it is asked for, not in every listing
    return list(_REGISTRY.values())


def entry_point_names() -> list[str]:
    """The step functions installed packages offer (entry-point group ``tokenlight.step_functions``)."""
    return sorted(_entry_points())


def _entry_points() -> dict[str, object]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load_entry_point(name: str) -> StepFunction:
    ep: Any = _entry_points()[name]
    try:
        obj = ep.load()
    except Exception as exc:  # a plugin's import error is the user's to see, by name
        raise StepFunctionError(
            f"step function {name!r} (entry point {ep.value!r} in group {ENTRY_POINT_GROUP}) failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    step = obj if isinstance(obj, StepFunction) else user_step_function(name, obj)
    if step.id != name:
        step = replace(step, id=name)
    register_step_function(step, overwrite=True)
    return step


def _import_step_function(spec: str) -> StepFunction:
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InputError(f"step function {spec!r}: write module:function, e.g. mypackage.steps:margin")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StepFunctionError(
            f"step function {spec!r}: cannot import module {module_name!r} ({exc}); is it on the Python path?"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise StepFunctionError(f"step function {spec!r}: module {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    step = obj if isinstance(obj, StepFunction) else user_step_function(spec, obj)
    if step.id != spec:
        step = replace(step, id=spec)
    register_step_function(step, overwrite=True)
    return step


def user_step_function(name: str, fn: Any, description: str | None = None) -> StepFunction:
    """Wrap ``fn(logits [n, V], target_id, **context) -> [n]`` as a :class:`StepFunction`.

    Every call is checked: an exception, a result of another shape, a non-float or non-finite
    result, or one that is not differentiable in the logits is a :class:`StepFunctionError` naming
    ``name``. ``context`` holds ``vocab_size`` today; functions must accept (and may ignore) more.
    """
    if not callable(fn):
        raise StepFunctionError(f"step function {name!r} is not callable (got {type(fn).__name__})")

    def wrapped(logits: torch.Tensor, ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
        columns = []
        for k in range(logits.shape[1]):
            at = logits[:, k].float()  # [n, V]
            try:
                out = fn(at, int(ids[k]), vocab_size=at.shape[-1])
            except StepFunctionError:
                raise
            except Exception as exc:  # reported by name, with what it raised
                raise StepFunctionError(f"step function {name!r} raised {type(exc).__name__}: {exc}") from exc
            columns.append(_checked(name, out, at))
        return torch.stack(columns, dim=1)

    text = description or (getattr(fn, "__doc__", None) or "").strip().split("\n")[0] or f"user step function {name}"
    return StepFunction(name, text, wrapped)


def _checked(name: str, out: Any, logits: torch.Tensor) -> torch.Tensor:
    n = logits.shape[0]
    if not isinstance(out, torch.Tensor):
        raise StepFunctionError(f"step function {name!r} returned {type(out).__name__}; return a tensor of shape [{n}]")
    if out.shape not in (torch.Size([n]), torch.Size([n, 1])):
        raise StepFunctionError(
            f"step function {name!r} returned shape {list(out.shape)}; it must return one value per path point: [{n}]"
        )
    if not out.is_floating_point():
        raise StepFunctionError(f"step function {name!r} returned {out.dtype}; return floating-point values")
    if logits.requires_grad and not out.requires_grad:
        raise StepFunctionError(
            f"step function {name!r} returned values that do not depend on the logits (detached?); "
            "gradient methods need a differentiable function of them"
        )
    return out.reshape(n)


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


def _entropy(logits: torch.Tensor, ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
    log_p = logits.float().log_softmax(-1)
    return -(log_p.exp() * log_p).sum(-1)


def _kl_divergence_pair(
    logits: torch.Tensor, ids: torch.Tensor, contrast_logits: torch.Tensor, contrast_ids: torch.Tensor
) -> torch.Tensor:
    """KL(p ‖ q) of the next-token distributions: p under the input, q under the contrast sequence."""
    log_p, log_q = logits.float().log_softmax(-1), contrast_logits.float().log_softmax(-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def _needs_sequence(logits: torch.Tensor, ids: torch.Tensor, contrast: int | None) -> torch.Tensor:
    raise InputError("kl_divergence compares two distributions: give a contrast prompt or a contrast text")


def _logit_pair(logits: torch.Tensor, ids: torch.Tensor, c_logits: torch.Tensor, c_ids: torch.Tensor) -> torch.Tensor:
    return _gather(logits, ids) - _gather(c_logits, c_ids)


def _probability_pair(
    logits: torch.Tensor, ids: torch.Tensor, c_logits: torch.Tensor, c_ids: torch.Tensor
) -> torch.Tensor:
    return _gather(logits.float().softmax(-1), ids) - _gather(c_logits.float().softmax(-1), c_ids)


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
        "logit of the target minus logit of the contrast token (or of the contrast prompt/text's token)",
        _logit_diff,
        True,
        full_vocabulary=False,
        pair=_logit_pair,
    ),
    StepFunction(
        "probability_diff",
        "probability of the target minus probability of the contrast token (or of the contrast prompt/text's token)",
        _probability_diff,
        True,
        pair=_probability_pair,
    ),
    StepFunction("entropy", "entropy of the next-token distribution (nats; the target token plays no part)", _entropy),
    StepFunction(
        "kl_divergence",
        "KL divergence of the next-token distribution from the one under the contrast prompt/text",
        _needs_sequence,
        True,
        pair=_kl_divergence_pair,
        needs_sequence=True,
    ),
):
    register_step_function(_step)

# the ids shipped with Tokenlight (what the editor's setting lists; plugins and registered ones come after)
BUILTIN_STEP_FUNCTIONS: tuple[str, ...] = tuple(_REGISTRY)
