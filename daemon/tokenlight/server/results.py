"""What the runner hands back: a result and a loaded model described as plain Python.

The runner converts the engine's :class:`~tokenlight.engine.Attribution` into a :class:`ResultData`
on the worker thread; the document store keeps it, and hover, inlay hints, diagnostics and the
protocol's result shapes read it on the event loop without numpy or torch. Nothing here imports
another server module, so that every one of them can import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenData:
    text: str
    start: int | None  # code points into the prompt (sources) or the continuation (targets)
    end: int | None
    special: bool
    probability: float | None = None
    side: str | None = None  # encoder-decoder models: "encoder" or "decoder"


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


@dataclass(frozen=True)
class LoadedInfo:
    name: str
    device: str
    dtype: str
    parameters: int
    context_length: int | None
