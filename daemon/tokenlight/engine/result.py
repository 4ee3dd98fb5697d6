"""The result of one attribution, and its msgpack / JSON forms.

msgpack keeps every array as raw little-endian float32 bytes with its shape, so NaN (the causal
boundary) and every bit of every score survive a round trip; JSON writes ``null`` for NaN.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import msgpack
import numpy as np

from .spans import Span
from .tokens import Token

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelInfo:
    name: str
    device: str
    dtype: str


@dataclass(frozen=True, eq=False)
class PartialResult:
    """Targets that finished before the whole attribution did (streamed to an editor).

    Attributes:
        targets (list[int]): indices into the final result's ``target_tokens``, ascending.
        source_tokens (list[Token]): the final result's source tokens (word-merged when asked),
            so that a client can colour the rows before the final answer arrives.
        scores (np.ndarray): float32 ``[len(targets), width]``: exactly these targets' rows of the
            final ``Attribution.scores`` (NaN at and after each target's position).
        deltas (np.ndarray | None): float32 ``[len(targets)]``, as in the final result.
    """

    targets: list[int]
    source_tokens: list[Token]
    scores: np.ndarray
    deltas: np.ndarray | None


@dataclass(eq=False)
class Attribution:
    """Attribution of each target token to every token before it.

    Attributes:
        prompt (str): the attributed text; source token spans index into it.
        source_tokens (list[Token]): S tokens, special ones (BOS) included with no span.
        target_tokens (list[Token]): T generated or forced tokens, each with its probability (for a
            sequence classifier: one target, the class).
        scores (np.ndarray): float32 ``[T, S + T]`` (``[1, S]`` for a classifier). Row ``t`` is the
            attribution of target ``t`` to source tokens ``0..S-1`` and then to the targets
            before it; entries at or after the target's own position are NaN.
        deltas (np.ndarray | None): float32 ``[T]`` convergence deltas, captum's convention
            ``sum(scores[t]) - (f(x) - f(x'))``; None for methods without one.
        target_scores (np.ndarray): float32 ``[T]`` the step function at the input, f(x).
        baseline_scores (np.ndarray | None): float32 ``[T]`` f(x') at the baseline; None for
            methods that use no baseline.
        baseline_equal (np.ndarray): bool ``[S + T]``: positions whose input token equals the
            baseline token, whose path attribution is therefore exactly 0.
        notes (list[str]): plain-language remarks on this result (e.g. why a score is exactly 0).
        warnings (list[str]): reasons not to trust this result at all (e.g. DeepLift through
            non-linearities its rules do not cover); also in ``notes``. Editors show them as diagnostics.
        options (dict): every option the result was computed with (:mod:`.options`), defaults filled in.
        converged (np.ndarray | None): bool ``[T]``: the method's own verdict on each target's delta
            (within 5% of the output change it should add up to); None for methods without a delta.
            Notes, diagnostics, hovers and renderers read this mark rather than re-deriving it.
        spans (list[Span]): the context's spans at the requested granularity, tiling the source
            tokens (empty at token granularity for token methods: the tokens are the spans).
        span_scores (np.ndarray): float32 ``[T, n_spans]``: each target's score for each span (token
            methods: the sum of the span's token scores; span methods: measured per span).
        span_drilled (np.ndarray | None): bool ``[T, n_spans]``: span methods only, the spans whose
            tokens were scored one by one (the others' tokens are 0 in ``scores``).
        span_fit (np.ndarray | None): float32 ``[T]``: context_ablation's surrogate R² on held-out masks.
        context_start (int): the code point of the prompt where the attributed context starts (0
            unless a document was cut to fit the model; ``notes`` then says so).
        faithfulness (dict | None): with ``evaluate``: the deletion and insertion curves, their
            AUCs, comprehensiveness, sufficiency and the random-order figures (:mod:`.faithfulness`),
            JSON-ready; None when not evaluated.
        sanity (dict | None): with ``sanity``: the model-parameter randomisation check
            (:mod:`.sanity`); None when not asked.
        layer_target (int | None): with ``per_layer``: the target whose per-layer view this is.
        layer_scores (np.ndarray | None): float32 ``[n_layers, width]``: that target's layer
            Integrated Gradients at each block's output (:mod:`.depth`), row l for block l, columns and
            NaN boundary as its row of ``scores``.
        layer_deltas (np.ndarray | None): float32 ``[n_layers]``: Σ row l − (f(x) − f(x′)) per layer.

    """

    prompt: str
    source_tokens: list[Token]
    target_tokens: list[Token]
    scores: np.ndarray
    deltas: np.ndarray | None
    target_scores: np.ndarray
    baseline_scores: np.ndarray | None
    model: ModelInfo
    method: str
    step_function: str
    baseline: str
    n_steps: int | None
    elapsed_ms: float
    continuation: str = ""
    target_kind: str = "generate"
    contrast_token: str | None = None
    baseline_equal: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    notes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    converged: np.ndarray | None = None
    spans: list[Span] = field(default_factory=list)
    span_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    span_drilled: np.ndarray | None = None
    span_fit: np.ndarray | None = None
    context_start: int = 0
    faithfulness: dict[str, Any] | None = None
    sanity: dict[str, Any] | None = None
    layer_target: int | None = None
    layer_scores: np.ndarray | None = None
    layer_deltas: np.ndarray | None = None

    # ------------------------------------------------------------------------------------------
    @property
    def source_scores(self) -> np.ndarray:
        """float32 ``[T, S]``: each target's attribution to the prompt tokens only."""
        return self.scores[:, : len(self.source_tokens)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attribution):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or a.shape != b.shape or a.dtype != b.dtype:
                    return False
                if not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                    return False
            elif a != b:
                return False
        return True

    # ------------------------------------------------------------------------------------------
    def to_msgpack(self) -> bytes:
        payload: dict[str, Any] = {"format": FORMAT_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value = _pack_array(value)
            elif f.name in ("source_tokens", "target_tokens", "spans"):
                value = [asdict(t) for t in value]
            elif f.name == "model":
                value = asdict(value)
            payload[f.name] = value
        packed: bytes = msgpack.packb(payload, use_bin_type=True)
        return packed

    @classmethod
    def from_msgpack(cls, data: bytes) -> Attribution:
        payload = msgpack.unpackb(data, raw=False, strict_map_key=False)
        if payload.pop("format", None) != FORMAT_VERSION:
            raise ValueError("not a Tokenlight attribution (unknown msgpack format version)")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in payload:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ValueError(f"not a complete Tokenlight attribution (no {f.name!r})")
                continue  # written before this field existed: its default
            value = payload[f.name]
            if isinstance(value, dict) and value.get("__ndarray__"):
                value = _unpack_array(value)
            elif f.name in ("source_tokens", "target_tokens"):
                value = [Token(**t) for t in value]
            elif f.name == "spans":
                value = [Span(**s) for s in value]
            elif f.name == "model":
                value = ModelInfo(**value)
            kwargs[f.name] = value
        return cls(**kwargs)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON form: camelCase keys, NaN as null (see README "JSON output")."""
        return {
            "model": asdict(self.model),
            "method": self.method,
            "stepFunction": self.step_function,
            "baseline": self.baseline,
            "nSteps": self.n_steps,
            "prompt": self.prompt,
            "continuation": self.continuation,
            "targetKind": self.target_kind,
            "contrastToken": self.contrast_token,
            "sourceTokens": [
                {"text": t.text, "id": t.id, "start": t.start, "end": t.end, "special": t.special, **_label(t)}
                | ({} if t.side is None else {"side": t.side})
                | ({"template": True} if t.template else {})
                for t in self.source_tokens
            ],
            "targetTokens": [
                {"text": t.text, "id": t.id, "probability": t.probability, **_label(t)} for t in self.target_tokens
            ],
            "scores": [[_json_float(v) for v in row] for row in self.scores.tolist()],
            "deltas": None if self.deltas is None else [_json_float(v) for v in self.deltas.tolist()],
            "targetScores": [_json_float(v) for v in self.target_scores.tolist()],
            "baselineScores": None
            if self.baseline_scores is None
            else [_json_float(v) for v in self.baseline_scores.tolist()],
            "baselineEqualsInput": [int(i) for i in np.flatnonzero(self.baseline_equal)],
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "converged": None if self.converged is None else [bool(c) for c in self.converged.tolist()],
            "options": _json_options(self.options),
            "spans": self.json_spans(),
            "spanFit": None if self.span_fit is None else [_json_float(v) for v in self.span_fit.tolist()],
            "contextStart": self.context_start,
            "elapsedMs": round(self.elapsed_ms, 3),
            "faithfulness": self.faithfulness,
            "sanity": self.sanity,
            "perLayer": self.json_per_layer(),
        }

    def json_per_layer(self) -> dict[str, Any] | None:
        """``{target, scores: [n_layers][width] (null past the target), deltas: [n_layers]}`` or None."""
        if self.layer_scores is None or self.layer_deltas is None:
            return None
        return {
            "target": self.layer_target,
            "scores": [[_json_float(v) for v in row] for row in self.layer_scores.tolist()],
            "deltas": [_json_float(v) for v in self.layer_deltas.tolist()],
        }

    def json_spans(self) -> list[dict[str, Any]]:
        """``[{kind, label, start, end, scores: [T], tokens: [first, last], drilled: [T] | null}]``."""
        out = []
        for i, s in enumerate(self.spans):
            drilled = None if self.span_drilled is None else [bool(v) for v in self.span_drilled[:, i].tolist()]
            out.append(
                {
                    "kind": s.kind,
                    "label": s.label,
                    "start": s.start,
                    "end": s.end,
                    "scores": [_json_float(v) for v in self.span_scores[:, i].tolist()],
                    "tokens": [s.first, s.last],
                    "drilled": drilled,
                }
            )
        return out


def _json_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options under their wire (camelCase) names, as the protocol spells them."""
    from .options import wire_name

    return {wire_name(k): v for k, v in options.items()}


def _json_float(v: float) -> float | None:
    return None if math.isnan(v) else v


def _pack_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a)
    dtype = a.dtype.newbyteorder("<") if a.dtype.kind == "f" else a.dtype
    return {"__ndarray__": True, "dtype": dtype.str, "shape": list(a.shape), "data": a.astype(dtype).tobytes()}


def _unpack_array(d: dict[str, Any]) -> np.ndarray:
    array: np.ndarray = np.frombuffer(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()
    return array


def _label(token: Token) -> dict[str, str]:
    """``{"label": "<0xE2>"}`` for a byte piece that is not a whole character (Token.label), else nothing."""
    return {} if token.label is None else {"label": token.label}
