"""The ``tokenlight/*`` messages: names, parameter parsing and result shapes, in one place (their
error codes are in :mod:`.errors`).

This module mirrors ``docs/protocol.md`` (the extension's ``protocol.ts`` mirrors it on the other
side); a change to one without the others is a bug.

Custom requests arrive from pygls as plain JSON values (dicts), so every parser here checks types
itself and raises :func:`invalid_params` with a message that says what was expected: a client author
reads these messages, and the daemon must never crash on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import attrs
import cattrs
from lsprotocol import types
from pygls.protocol import default_converter

from ..engine.errors import InputError
from ..engine.options import LSP, by_wire_name, get_option
from .errors import invalid_params

if TYPE_CHECKING:
    from .documents import StoredResult
    from .positions import TextIndex
    from .results import LoadedInfo, PartialData, TokenData

ATTRIBUTE = "tokenlight/attribute"
METHODS = "tokenlight/methods"
LOAD_MODEL = "tokenlight/loadModel"
STATUS = "tokenlight/status"
CLEAR = "tokenlight/clear"
FOCUS = "tokenlight/focus"
COMPARE = "tokenlight/compare"
AGAINST = "tokenlight/against"
STEP_FUNCTIONS = "tokenlight/stepFunctions"
DIFF = "tokenlight/diff"
# tokenlight/diff: the largest results it aligns (cells of one scores matrix): past it, an error
MAX_DIFF_CELLS = 4_000_000
MAX_COMPARE_METHODS = 32
# server -> client notification: {uri, ids, reason}; the client drops those results too
RESULTS_DROPPED = "tokenlight/resultsDropped"
SERVER_NOTIFICATIONS = frozenset({RESULTS_DROPPED})  # sent, never received: no request message type

# The client-side command each inlay-hint label part carries: arguments [resultId, targetIndex].
FOCUS_TARGET_COMMAND = "tokenlight.focusTarget"

TARGET_KINDS = ("generate", "text", "following")
DIAGNOSTIC_SOURCE = "tokenlight"
MAX_FOLLOWING_TOKENS = 1024


# ----------------------------------------------------------------------------------------------
# plain JSON params


@attrs.define
class RawRequestMessage:
    """A ``tokenlight/*`` request whose params stay plain JSON.

    pygls turns untyped params into namedtuples, which renames keys that are not identifiers and
    drops a key called ``type_name``; our parsers want the JSON the client sent.
    """

    id: int | str
    method: str
    jsonrpc: str
    params: Any = None


def is_custom(method: str) -> bool:
    return method.startswith("tokenlight/")


def converter_factory() -> cattrs.Converter:
    """pygls' converter, plus: :class:`RawRequestMessage` is built from the JSON as it is."""
    converter: cattrs.Converter = default_converter()  # type: ignore[no-untyped-call]  # pygls leaves it unannotated
    converter.register_structure_hook(RawRequestMessage, lambda obj, cls: cls(**obj))
    return converter


# ----------------------------------------------------------------------------------------------
# parameter shapes


@dataclass(frozen=True)
class TargetSpec:
    """What to attribute: ``generate`` (``max_new_tokens``), ``text`` (force ``text``) or
    ``following`` (force the document's text after the selection, at most ``max_tokens`` tokens)."""

    kind: str
    max_new_tokens: int | None = None
    text: str | None = None
    max_tokens: int | None = None


# ``options`` of ``tokenlight/attribute``: Python option names (engine/options.py) -> the values the
# client gave; an option left out is the configured setting, else the engine's default.
AttributeOptions = dict[str, Any]


@dataclass(frozen=True)
class DocumentSymbol:
    """One of the editor's document symbols (flattened: children are symbols of their own)."""

    range: types.Range
    kind: str
    name: str


@dataclass(frozen=True)
class AttributeParams:
    uri: str
    range: types.Range
    target: TargetSpec | None
    method: str | None
    options: AttributeOptions
    work_done_token: int | str | None
    # $/progress under this token carries each group of finished targets (attribute_partial)
    partial_result_token: int | str | None = None
    symbols: tuple[DocumentSymbol, ...] = ()


@dataclass(frozen=True)
class LoadModelParams:
    model: str | None
    device: str | None
    dtype: str | None
    work_done_token: int | str | None


# ----------------------------------------------------------------------------------------------
# parsers


def parse_attribute(raw: Any) -> AttributeParams:
    obj = _object(raw, ATTRIBUTE)
    uri = parse_text_document(obj, ATTRIBUTE)
    if "range" not in obj:
        raise invalid_params(f"{ATTRIBUTE}: 'range' is required: the selection as an LSP Range")
    rng = parse_range(obj["range"], f"{ATTRIBUTE}: range")
    target = _target(obj.get("target"))
    method = _optional(obj, "method", str, ATTRIBUTE)
    options = parse_options(obj.get("options"))
    symbols = _symbols(obj.get("symbols"))
    return AttributeParams(
        uri,
        rng,
        target,
        method,
        options,
        _work_done_token(obj, ATTRIBUTE),
        _progress_token(obj, "partialResultToken", ATTRIBUTE),
        symbols,
    )


def _symbols(raw: Any) -> tuple[DocumentSymbol, ...]:
    """``symbols``: ``[{range, kind?, name}]``, the editor's document symbols for granularity symbol."""
    where = f"{ATTRIBUTE}: symbols"
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid_params(f"{where} must be a list of {{range, kind, name}} (got {type(raw).__name__})")
    out = []
    for i, item in enumerate(raw):
        obj = _object(item, f"{where}[{i}]")
        name = obj.get("name")
        kind = obj.get("kind", "symbol")
        if not isinstance(name, str) or not isinstance(kind, str):
            raise invalid_params(f"{where}[{i}]: 'name' and 'kind' must be strings")
        out.append(DocumentSymbol(parse_range(obj.get("range"), f"{where}[{i}].range"), kind, name))
    return tuple(out)


@dataclass(frozen=True)
class CompareParams:
    attribute: AttributeParams  # its ``method`` is unused: ``methods`` lists them
    methods: list[str] | None


def parse_compare(raw: Any) -> CompareParams:
    """``tokenlight/compare``: ``tokenlight/attribute``'s params, with ``methods`` (a list of ids;
    omitted: the engine's default set) instead of ``method``."""
    obj = dict(_object(raw, COMPARE))
    methods = obj.pop("methods", None)
    if methods is not None and (
        not isinstance(methods, list)
        or not methods
        or len(methods) > MAX_COMPARE_METHODS
        or not all(isinstance(m, str) and m for m in methods)
    ):
        raise invalid_params(
            f"{COMPARE}: 'methods' must be a list of 1 to {MAX_COMPARE_METHODS} method ids (tokenlight/methods)"
        )
    if "method" in obj:
        raise invalid_params(f"{COMPARE}: give 'methods' (a list), not 'method'")
    return CompareParams(parse_attribute(obj), methods)


@dataclass(frozen=True)
class AgainstParams:
    attribute: AttributeParams  # the first input (its range chooses the target)
    other_range: types.Range  # the second input, in the same document


def parse_against(raw: Any) -> AgainstParams:
    """``tokenlight/against``: ``tokenlight/attribute``'s params plus ``otherRange``, the second input."""
    obj = dict(_object(raw, AGAINST))
    if "otherRange" not in obj:
        raise invalid_params(f"{AGAINST}: 'otherRange' is required: the second input as an LSP Range")
    other = parse_range(obj.pop("otherRange"), f"{AGAINST}: otherRange")
    return AgainstParams(parse_attribute(obj), other)


def parse_diff(raw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``tokenlight/diff``: ``{a, b}``, two ``tokenlight/attribute`` results (as the client got them:
    ``sourceTokens`` and ``targetTokens`` with ``text``, ``scores`` ``[T][S+T]`` with null after the
    causal boundary; ``method`` and ``stepFunction`` optional). Returns them checked, as the plain
    dicts ``tokenlight.diff.diff_results`` aligns."""
    obj = _object(raw, DIFF)
    return _diff_side(obj.get("a"), "a"), _diff_side(obj.get("b"), "b")


def _diff_side(raw: Any, name: str) -> dict[str, Any]:
    where = f"{DIFF}: {name}"
    if not isinstance(raw, dict):
        raise invalid_params(f"{where} must be a tokenlight/attribute result (an object), got {type(raw).__name__}")
    sides = {}
    for key in ("sourceTokens", "targetTokens"):
        tokens = raw.get(key)
        if not isinstance(tokens, list) or not all(
            isinstance(t, dict) and isinstance(t.get("text"), str) for t in tokens
        ):
            raise invalid_params(f"{where}.{key} must be a list of tokens, each with its 'text' (a string)")
        sides[key] = [{"text": t["text"]} for t in tokens]
    n_source, n_target = len(sides["sourceTokens"]), len(sides["targetTokens"])
    scores = raw.get("scores")
    width = n_source + n_target
    if not isinstance(scores, list) or len(scores) != n_target:
        raise invalid_params(f"{where}.scores must have one row per target token ({n_target})")
    if n_target * width > MAX_DIFF_CELLS:
        raise invalid_params(f"{where}: {n_target} × {width} scores is more than {MAX_DIFF_CELLS:,} cells")
    for t, row in enumerate(scores):
        if not isinstance(row, list) or len(row) != width:
            raise invalid_params(f"{where}.scores[{t}] must have {width} values (source then target tokens)")
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in row):
            raise invalid_params(f"{where}.scores[{t}]: every value must be a number or null")
    out: dict[str, Any] = {**sides, "scores": scores}
    for key in ("method", "stepFunction"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid_params(f"{where}.{key} must be a string")
        out[key] = value
    return out


def parse_options(raw: Any) -> AttributeOptions:
    """``options`` -> Python names and values, each checked against its spec (type, range, fixed
    choices; registry-backed choices such as step functions are checked by the engine). Unknown
    names are an error that lists the known ones."""
    where = f"{ATTRIBUTE}: options"
    opts = _object(raw, where)
    known = by_wire_name(LSP)
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise invalid_params(
            f"{where}: unknown option(s) {', '.join(map(repr, unknown))}; the options are: {', '.join(sorted(known))}"
        )
    parsed: AttributeOptions = {}
    for key, value in opts.items():
        option = known[key]
        try:
            checked = option.validate(value, f"{where}.{key}", registries=False)
        except InputError as exc:
            raise invalid_params(str(exc)) from None
        if checked is not None:
            parsed[option.name] = checked
    return parsed


def refuse_code_references(options: Mapping[str, Any]) -> None:
    """A ``module:function`` step function makes the daemon import and run code: the CLI and the
    Python API accept it (the user runs their own code), the language server does not (a client,
    perhaps remote, must not pick modules to import). Registered ids, entry points included, pass."""
    step = options.get("step_function")
    if isinstance(step, str) and ":" in step:
        raise invalid_params(
            f"{ATTRIBUTE}: options.stepFunction {step!r} names code to import, which the daemon does not do for a "
            "client: install it as an entry point in group tokenlight.step_functions and use its name, or run it "
            "from the CLI (tokenlight attribute --step-function) or the Python API"
        )


def parse_load_model(raw: Any) -> LoadModelParams:
    obj = _object(raw, LOAD_MODEL)
    if "model" not in obj:
        raise invalid_params(
            f"{LOAD_MODEL}: 'model' is required: a model folder, a cached Hugging Face id, "
            "or null for the embedded tokenlight-tiny-py"
        )
    return LoadModelParams(
        model=_optional(obj, "model", str, LOAD_MODEL) or None,
        device=_optional(obj, "device", str, LOAD_MODEL),
        dtype=_optional(obj, "dtype", str, LOAD_MODEL),
        work_done_token=_work_done_token(obj, LOAD_MODEL),
    )


def parse_text_document(raw: Any, method: str) -> str:
    """``{textDocument: {uri}}`` -> the uri."""
    obj = _object(raw, method)
    doc = obj.get("textDocument")
    uri = doc.get("uri") if isinstance(doc, dict) else None
    if not isinstance(uri, str):
        raise invalid_params(f'{method}: \'textDocument\' must be {{"uri": "file:///..."}}')
    return uri


def parse_focus(raw: Any) -> tuple[str, int | None]:
    """``{id, target}`` -> (result id, target index or None for "all targets")."""
    obj = _object(raw, FOCUS)
    result_id = obj.get("id")
    if not isinstance(result_id, str):
        raise invalid_params(f"{FOCUS}: 'id' must be the id of a tokenlight/attribute result (a string)")
    target = obj.get("target")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int)):
        raise invalid_params(f"{FOCUS}: 'target' must be a target index (0-based) or null for the sum over targets")
    return result_id, target


def parse_range(raw: Any, what: str) -> types.Range:
    obj = _object(raw, what)
    return types.Range(start=_position(obj.get("start"), f"{what}.start"), end=_position(obj.get("end"), f"{what}.end"))


def _position(raw: Any, what: str) -> types.Position:
    if not isinstance(raw, dict):
        raise invalid_params(f'{what} must be a position {{"line": n, "character": n}}')
    line = _position_part(raw.get("line"), f"{what}.line")
    return types.Position(line=line, character=_position_part(raw.get("character"), f"{what}.character"))


def _position_part(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise invalid_params(f"{what} must be a whole number ≥ 0 (got {value!r})")


def _target(raw: Any) -> TargetSpec | None:
    if raw is None:
        return None
    obj = _object(raw, f"{ATTRIBUTE}: target")
    kind = obj.get("kind")
    where = f"{ATTRIBUTE}: target"
    if kind == "generate":
        try:  # the same bounds as the max_new_tokens option (engine/options.py)
            max_new = get_option("max_new_tokens").validate(obj.get("maxNewTokens"), f"{where}: maxNewTokens")
        except InputError as exc:
            raise invalid_params(str(exc)) from None
        return TargetSpec("generate", max_new_tokens=max_new)
    if kind == "text":
        text = obj.get("text")
        if not isinstance(text, str) or text == "":
            raise invalid_params(f"{where}: kind \"text\" needs 'text', the non-empty text to force-decode")
        return TargetSpec("text", text=text)
    if kind == "following":
        max_tokens = _optional_int(obj, "maxTokens", where, minimum=1)
        if max_tokens is not None and max_tokens > MAX_FOLLOWING_TOKENS:
            raise invalid_params(f"{where}: maxTokens must be at most {MAX_FOLLOWING_TOKENS} (got {max_tokens})")
        return TargetSpec("following", max_tokens=max_tokens)
    raise invalid_params(f"{where}: 'kind' must be one of {', '.join(map(repr, TARGET_KINDS))} (got {kind!r})")


def _work_done_token(obj: dict[str, Any], method: str) -> int | str | None:
    return _progress_token(obj, "workDoneToken", method)


def _progress_token(obj: dict[str, Any], key: str, method: str) -> int | str | None:
    token = obj.get(key)
    if token is None or (isinstance(token, (int, str)) and not isinstance(token, bool)):
        return token
    raise invalid_params(f"{method}: '{key}' must be a string or an integer")


def _object(raw: Any, what: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid_params(f"{what}: expected an object, got {type(raw).__name__}")
    return raw


def _optional(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise invalid_params(f"{where}: '{key}' must be a {kind.__name__} (got {value!r})")
    return value


def _optional_int(obj: dict[str, Any], key: str, where: str, *, minimum: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise invalid_params(f"{where}: '{key}' must be a whole number ≥ {minimum} (got {value!r})")


# ----------------------------------------------------------------------------------------------
# result shapes


def attribute_result(stored: StoredResult, index: TextIndex, elapsed_ms: float) -> dict[str, Any]:
    """The ``tokenlight/attribute`` result: tokens with LSP ranges (null for special tokens and for
    targets that are not document text), scores with null after each target's causal boundary."""
    data, anchor = stored.data, stored.anchor

    def place(base: int, start: int | None, end: int | None) -> dict[str, Any] | None:
        return _lsp_range(index, base, start, end)

    return {
        "id": stored.id,
        "model": dict(data.model),
        "method": data.method,
        "stepFunction": data.step_function,
        "baseline": data.baseline,
        "nSteps": data.n_steps,
        "target": {"kind": stored.kind, "text": data.continuation},
        "sourceTokens": [
            {"text": t.text, "range": place(anchor.start, t.start, t.end), "special": t.special, **_label(t)}
            | ({} if t.side is None else {"side": t.side})
            | ({"template": True} if t.template else {})
            for t in data.source_tokens
        ],
        "targetTokens": [
            {
                "text": t.text,
                "range": place(anchor.prompt_end, t.start, t.end) if stored.following else None,
                "probability": t.probability,
                "special": t.special,
                **_label(t),
            }
            for t in data.target_tokens
        ],
        "scores": data.scores,
        "deltas": data.deltas,
        "targetScores": data.target_scores,
        "baselineScores": data.baseline_scores,
        "notes": data.notes,
        "warnings": data.warnings,
        "converged": data.converged,
        "spans": [
            {
                "kind": s.kind,
                "label": s.label,
                "range": place(anchor.start, s.start, s.end),
                "scores": list(s.scores),
                "tokens": [s.first, s.last],
                "drilled": None if s.drilled is None else list(s.drilled),
            }
            for s in data.spans
        ],
        "spanFit": data.span_fit,
        "contextStart": _lsp_position(index.position(anchor.start + data.context_start))
        if data.context_start
        else None,
        "faithfulness": data.faithfulness,
        "sanity": data.sanity,
        "perLayer": data.per_layer,
        "elapsedMs": round(elapsed_ms, 3),
        "computeMs": round(data.elapsed_ms, 3),
        "cached": data.cached,
    }


def attribute_partial(part: PartialData, prompt_start: int, index: TextIndex, *, first: bool) -> dict[str, Any]:
    """One ``$/progress`` value for a ``partialResultToken``: the targets finished since the last one
    (``targets`` index the final result's ``targetTokens``; ``scores`` and ``deltas`` are exactly
    those rows of the final result). The first also carries ``sourceTokens`` with their ranges, so a
    client can colour the rows before the final answer."""
    value: dict[str, Any] = {"targets": part.targets, "scores": part.scores, "deltas": part.deltas}
    if first:
        value["sourceTokens"] = [
            {"text": t.text, "range": _lsp_range(index, prompt_start, t.start, t.end), "special": t.special}
            | ({"template": True} if t.template else {})
            for t in part.source_tokens
        ]
    return value


def _lsp_range(index: TextIndex, base: int, start: int | None, end: int | None) -> dict[str, Any] | None:
    if start is None or end is None:
        return None
    rng = index.range(base + start, base + end)
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


def _lsp_position(position: types.Position) -> dict[str, int]:
    return {"line": position.line, "character": position.character}


def load_model_result(info: LoadedInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "device": info.device,
        "dtype": info.dtype,
        "parameters": info.parameters,
        "contextLength": info.context_length,
    }


def _label(token: TokenData) -> dict[str, str]:
    """``{"label": "<0xE2>"}`` for a byte piece that is not a whole character, else nothing."""
    return {} if token.label is None else {"label": token.label}
