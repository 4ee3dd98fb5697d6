"""What the runner hands back: a result and a loaded model described as plain Python.

The runner converts the engine's :class:`~tokenlight.engine.Attribution` into a :class:`ResultData`
on the worker thread; the document store keeps it, and hover, inlay hints, diagnostics and the
protocol's result shapes read it on the event loop without numpy or torch. Nothing here imports
another server module, so that every one of them can import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TokenData:
    text: str
    start: int | None  # code points into the prompt (sources) or the continuation (targets)
    end: int | None
    special: bool
    probability: float | None = None
    label: str | None = None  # <0xNN> for byte pieces that are not whole characters (Token.label)
    side: str | None = None  # encoder-decoder models: "encoder" or "decoder"
    template: bool = False  # a chat template's own token: in the prompt, not in the user's text

    @property
    def shown(self) -> str:
        """What views show: the label of a byte piece, else the text."""
        return self.label if self.label is not None else self.text


@dataclass(frozen=True)
class SpanData:
    """A span of the context: code points into the prompt, its scores per target."""

    kind: str
    label: str
    start: int | None
    end: int | None
    first: int
    last: int
    scores: list[float | None]
    drilled: list[bool] | None  # span methods: whose tokens were scored one by one, per target


@dataclass(frozen=True)
class ResultData:
    """An :class:`~tokenlight.engine.Attribution` as plain Python: lists, floats, None for NaN."""

    model: dict[str, str]
    method: str
    method_label: str
    has_delta: bool
    step_function: str
    baseline: str
    n_steps: int | None
    prompt: str
    continuation: str
    target_kind: str
    source_tokens: list[TokenData]
    target_tokens: list[TokenData]
    scores: list[list[float | None]]
    deltas: list[float] | None
    target_scores: list[float]
    baseline_scores: list[float] | None
    notes: list[str]
    warnings: list[str]  # reasons not to trust the result at all (e.g. DeepLift on a transformer)
    converged: list[bool] | None  # the engine's verdict per target (None: no delta)
    elapsed_ms: float  # the computation's own time (for a cached result: when it was computed)
    cached: bool
    spans: list[SpanData] = field(default_factory=list)
    span_fit: list[float] | None = None
    context_start: int = 0  # code point of the prompt where the attributed context starts
    # the engine's JSON-ready figures (options evaluate / sanity), None when not asked
    faithfulness: dict[str, Any] | None = None
    sanity: dict[str, Any] | None = None
    # option per_layer: {target, scores [n_layers][width], deltas [n_layers]} (Attribution.json_per_layer)
    per_layer: dict[str, Any] | None = None
    budget: str | None = None  # what n_steps counts: "steps", "samples", or None (the method's budget())
    uses_step_function: bool = True  # False for attention weights: no step function was evaluated


@dataclass(frozen=True)
class PartialData:
    """An engine :class:`~tokenlight.engine.PartialResult` as plain Python (None for NaN)."""

    targets: list[int]
    source_tokens: list[TokenData]
    scores: list[list[float | None]]
    deltas: list[float] | None


@dataclass(frozen=True)
class LoadedInfo:
    name: str
    device: str
    dtype: str
    parameters: int
    context_length: int | None
