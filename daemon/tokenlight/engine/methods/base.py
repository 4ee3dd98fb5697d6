"""The one interface every attribution method implements, and the registry that finds them.

A method receives an :class:`AttributionProblem` (a differentiable function from input embeddings
to the T target values, the input and baseline embeddings, options) and returns per-token scores
``[T, L]``. It never sees tokens, text or the model object: the engine builds the problem, so a new
method is one small module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..errors import UnknownMethodError
from ..kernel import Hooks, TargetFn
from ..options import DELTA_TOLERANCE, samples_to_meet

# A target whose |delta| is above this share of the output change it should add up to (plus a
# rounding-size floor) has not converged. The engine marks each target (``Attribution.converged``);
# notes, diagnostics, hovers and renderers read that mark and never apply the rule themselves.
DELTA_NOTE_SHARE = DELTA_TOLERANCE  # declared beside the options: the server reads it without torch
DELTA_FLOOR = 1e-6


@dataclass
class AttributionProblem:
    """What a method attributes.

    Attributes:
        target_fn: embeddings ``[n, L, d]`` -> T target values ``[n]``; causal, so value t
            depends only on the positions that precede target t.
        inputs (Tensor): ``[L, d]`` input embeddings x.
        baselines (Tensor): ``[L, d]`` baseline embeddings x′ (used by path methods).
        n_targets (int): T.
        target_scores (Tensor): float64 ``[T]`` f(x), computed once by the engine.
        baseline_scores (Tensor): float64 ``[T]`` f(x′).
        chunk_size (Callable[[int], int]): how many points per forward for a given point count
            (``internal_batch_size`` when the user set it, else memory-derived).
        options (dict): method options (``n_steps``, ``integration``, ``n_samples``, ``seed``, ...).
        hooks (Hooks): progress and cancellation.
        model (torch.nn.Module | None): the model, for methods that need more than gradients
            (attention weights, captum's module-hooking methods). None for models built by tests
            that only provide ``target_fn``.
        input_ids (Tensor | None): ``[L]`` the token ids behind ``inputs``.
        target_positions (Tensor | None): ``[T]`` the position whose output predicts each target.
        special_positions (frozenset[int]): positions of special tokens (BOS, ...) among the inputs.
        spans (tuple): ``[first, last]`` position ranges (inclusive, in order) tiling the context:
            what span methods leave out. Empty: every position is its own span.
        retokenise (Callable | None): ``keep`` (one bool per context position) -> the ids of the
            context with the left-out tokens' text deleted and the rest tokenised again (what
            ``ablation: remove`` feeds the model); None where the problem has no text to cut.
    """

    target_fn: TargetFn
    inputs: torch.Tensor
    baselines: torch.Tensor
    n_targets: int
    target_scores: torch.Tensor
    baseline_scores: torch.Tensor
    chunk_size: Any
    options: dict[str, Any] = field(default_factory=dict)
    hooks: Hooks = field(default_factory=Hooks)
    model: Any = None
    input_ids: torch.Tensor | None = None
    target_positions: torch.Tensor | None = None
    special_positions: frozenset[int] = frozenset()
    spans: tuple[tuple[int, int], ...] = ()
    retokenise: Callable[[list[bool]], list[int]] | None = None

    def seed(self) -> int:
        return int(self.options.get("seed") or 0)

    def target_position(self, t: int) -> int:
        """The absolute position whose output predicts target ``t``: what a target's randomness is
        keyed by (seeding.py), so that it is the same however the targets were grouped."""
        return t if self.target_positions is None else int(self.target_positions[t])

    def prefix_length(self, t: int) -> int:
        """How many input positions target ``t`` can see (causal): its own prefix. Methods whose
        work is shaped by the positions (budgets, sample counts, random draws) use this, never the
        problem's length, which depends on the other targets asked with it."""
        return self.inputs.shape[0] if self.target_positions is None else int(self.target_positions[t]) + 1

    def prefix_mask(self) -> torch.Tensor:
        """``[T, L]`` bool: True where target t can see position i."""
        lengths = torch.tensor([self.prefix_length(t) for t in range(self.n_targets)], device=self.inputs.device)
        return torch.arange(self.inputs.shape[0], device=self.inputs.device).unsqueeze(0) < lengths.unsqueeze(1)


@dataclass
class MethodOutput:
    """scores: float64 ``[T, L]``; deltas: float64 ``[T]`` or None; n_steps: points used or None;
    warnings: plain-language reasons not to trust this result (shown as notes and diagnostics);
    notes: remarks on how it was computed (e.g. layers recomputed to fit the memory budget).

    Span methods also give span_scores: float64 ``[T, n_spans]`` for ``problem.spans``; drilled: bool
    ``[T, n_spans]`` (whose tokens were scored); fit: float64 ``[T]``, a surrogate's held-out R²."""

    scores: torch.Tensor
    deltas: torch.Tensor | None = None
    n_steps: int | None = None
    uses_baseline: bool = False
    warnings: list[str] = field(default_factory=list)
    span_scores: torch.Tensor | None = None
    drilled: torch.Tensor | None = None
    fit: torch.Tensor | None = None
    notes: list[str] = field(default_factory=list)  # remarks that are no reason to distrust the result


class AttributionMethod(ABC):
    """Base class: subclasses set the class attributes and implement :meth:`_attribute`."""

    id: ClassVar[str]
    label: ClassVar[str]
    summary: ClassVar[str]  # one line, for pickers and the editor's settings
    description: ClassVar[str]
    family: ClassVar[str]  # "gradient" | "path" | "perturbation" | "attention"
    has_convergence_delta: ClassVar[bool] = False
    uses_baseline: ClassVar[bool] = False
    parameters: ClassVar[tuple[str, ...]] = ()
    default_n_steps: ClassVar[int | None] = None
    scores_spans: ClassVar[bool] = False  # scores the problem's spans directly (span methods)
    # its passes are plain autograd through target_fn (no module hooks), so decoder layers may be
    # recomputed in the backward pass when one point's activations exceed the budget (memory.py),
    # and compiled when compile_layers asks (compilation.py)
    recomputable: ClassVar[bool] = False
    # whether the scores are of the step function's output (attention weights are not)
    uses_step_function: ClassVar[bool] = True
    # a warning pickers show beside the method (e.g. rules that do not hold on transformers)
    caveat: ClassVar[str | None] = None

    @classmethod
    def budget(cls) -> str | None:
        """What ``Attribution.n_steps`` counts for this method: "samples" (the stochastic methods),
        "steps" (the path methods), or None (no budget)."""
        if "n_samples" in cls.parameters:
            return "samples"
        if "n_steps" in cls.parameters:
            return "steps"
        return None

    # needs only target_fn, inputs and baselines, so it also attributes to a layer's activations
    # (engine/layers.py); methods that read the model, the ids or the vocabulary do not
    supports_layer: ClassVar[bool] = False

    def attribute(self, problem: AttributionProblem) -> MethodOutput:
        """Compute (captum's public/private split; the options were validated by the engine, once)."""
        return self._attribute(problem)

    @abstractmethod
    def _attribute(self, problem: AttributionProblem) -> MethodOutput: ...

    @staticmethod
    def convergence_delta(scores: torch.Tensor, problem: AttributionProblem) -> torch.Tensor:
        """captum's convention: Σ attributions − (f(x) − f(x′)), per target."""
        return scores.sum(dim=1) - (problem.target_scores - problem.baseline_scores)

    def converged(
        self, deltas: torch.Tensor, target_scores: torch.Tensor, baseline_scores: torch.Tensor
    ) -> torch.Tensor:
        """bool ``[T]``: does each target's delta stay within :data:`DELTA_NOTE_SHARE` of the
        output change its scores should add up to (path methods: f(x) − f(x′); a method with another
        reference overrides this)?"""
        return deltas.abs() <= DELTA_NOTE_SHARE * (target_scores - baseline_scores).abs() + DELTA_FLOOR

    def delta_notes(
        self,
        deltas: torch.Tensor,
        target_scores: torch.Tensor,
        baseline_scores: torch.Tensor,
        budget_used: int | None = None,
    ) -> list[str]:
        """Plain-language notes when the deltas are too large to trust the scores as a decomposition.
        ``budget_used`` is the steps or samples the method ran (``MethodOutput.n_steps``): a sampling
        method's note says its delta is sampling error and how many samples would meet the tolerance."""
        ok = self.converged(deltas, target_scores, baseline_scores)
        bad = [t for t in range(len(deltas)) if not bool(ok[t])]
        if not bad:
            return []
        targets = ", ".join(map(str, bad))
        if self.budget() == "samples" and budget_used is not None:
            worst = float((deltas.abs() / (target_scores - baseline_scores).abs().clamp_min(1e-12))[bad].max())
            needed = samples_to_meet(budget_used, worst, DELTA_NOTE_SHARE)
            return [
                f"sampling error: {self.label} is complete only in expectation, and with {budget_used} samples the "
                f"delta is up to {worst:.0%} of f(x) − f(x′) (target(s) {targets}); it shrinks as 1/√n_samples, so "
                f"about {needed} samples would bring it within {DELTA_NOTE_SHARE:.0%}"
            ]
        return [
            f"convergence delta above {DELTA_NOTE_SHARE:.0%} of f(x) − f(x′) for target(s) {targets}: "
            "the scores do not add up to the output change; raise n_steps"
        ]

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "id": cls.id,
            "label": cls.label,
            "summary": cls.summary,
            "description": cls.description,
            "family": cls.family,
            "convergenceDelta": cls.has_convergence_delta,
            "usesBaseline": cls.uses_baseline,
            # compile_layers acts on exactly the recomputable methods: derived, not listed in each
            "parameters": [*cls.parameters, *(["compile_layers"] if cls.recomputable else [])],
            "spans": cls.scores_spans,
            "budget": cls.budget(),
            "usesStepFunction": cls.uses_step_function,
            "caveat": cls.caveat,
            "supportsLayer": cls.supports_layer,
        }


_REGISTRY: dict[str, type[AttributionMethod]] = {}


def register_method(cls: type[AttributionMethod], *, overwrite: bool = False) -> type[AttributionMethod]:
    """Class decorator: make a method available by its ``id``."""
    if cls.id in _REGISTRY and not overwrite:
        raise ValueError(f"attribution method {cls.id!r} is already registered")
    _REGISTRY[cls.id] = cls
    return cls


def unregister_method(method_id: str) -> None:
    """Remove a method (tests that register a throwaway one clean up with this)."""
    _REGISTRY.pop(method_id, None)


def get_method(method_id: str) -> AttributionMethod:
    try:
        return _REGISTRY[method_id]()
    except KeyError:
        raise UnknownMethodError(method_id, list(_REGISTRY)) from None


def list_methods() -> list[type[AttributionMethod]]:
    return list(_REGISTRY.values())
