"""What runs on the worker thread: importing the engine, keeping a model resident, attributing.

This is the only server module that touches the engine, and it imports it inside functions: the
event loop imports this module at start-up, and importing torch and transformers (seconds) must not
delay ``initialize``. Every function here is called from the worker thread only, one at a time, so the
runner needs no locks; it hands back plain Python data (:class:`~.results.ResultData`) that the event loop can
read without numpy or torch.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..cache import ResultCache, cache_key
from ..engine.options import deciding_options
from .errors import request_failed
from .jobs import AttributionJob, ModelRequest
from .results import LoadedInfo, PartialData, ResultData, SpanData, TokenData

if TYPE_CHECKING:
    from ..engine import Attribution, LoadedModel, PartialResult

log = logging.getLogger(__name__)

Report = Callable[[str, "int | None"], None]  # (message, percentage or None)
IsCancelled = Callable[[], bool]
Partial = Callable[[PartialData], None]

# the end of the message for a Hub id that is not in the local cache (the daemon never downloads)
DAEMON_NEVER_DOWNLOADS = "point the model setting (tokenlight.model) at a local folder: the daemon never downloads"


class Runner:
    """The engine behind the worker: one resident model, the results cache, the method list."""

    def __init__(self, cache: ResultCache) -> None:
        self.cache = cache
        self.lm: LoadedModel | None = None
        self.loaded: ModelRequest | None = None
        self.info: LoadedInfo | None = None
        self._labels: dict[str, str] = {}
        self._described: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------------------------------
    def methods(self) -> list[dict[str, Any]]:
        """Import the engine (the slow part of start-up) and describe every method."""
        os.environ.setdefault("MPLBACKEND", "Agg")  # captum.attr imports pyplot: never open a display
        from ..engine import list_methods

        described = [cls.describe() for cls in list_methods()]
        self._labels = {m["id"]: m["label"] for m in described}
        self._described = {m["id"]: m for m in described}
        return described

    def step_functions(self) -> list[dict[str, Any]]:
        """Every step function a client may name: the built-ins, those registered in this process
        and the installed packages' entry points (loaded now; a broken one is left out and fails by
        name when asked for). ``module:function`` ids are left out: the server refuses them."""
        from ..engine import list_step_functions
        from ..engine.step_functions import BUILTIN_STEP_FUNCTIONS, entry_point_names

        plugins = set(entry_point_names())
        return [
            {
                "id": s.id,
                "description": s.description,
                "needsContrast": s.needs_contrast,
                "needsSequence": s.needs_sequence,
                "origin": "builtin"
                if s.id in BUILTIN_STEP_FUNCTIONS
                else "entryPoint"
                if s.id in plugins
                else "registered",
            }
            for s in list_step_functions()
            if ":" not in s.id
        ]

    def load(self, request: ModelRequest, report: Report) -> LoadedInfo:
        """Make ``request`` the resident model (no-op when it already is and its files on disk are
        the ones it was loaded from; rewritten files are loaded again)."""
        if self.lm is not None and self.loaded == request and self.info is not None:
            if not self.lm.files_changed():
                return self.info
            log.info("the files of %s changed on disk since it was loaded: loading it again", self.lm.name)
        from ..engine import load_model
        from ..engine.errors import ModelNotCachedError, ModelNotFoundError

        name = request.name or "tokenlight-tiny-py"
        report(f"loading model {name}", None)
        self.unload()
        started = time.perf_counter()
        try:
            lm = load_model(request.name, device=request.device, dtype=request.dtype)
        except ModelNotCachedError as exc:  # the daemon has no download switch: say what applies here
            raise ModelNotFoundError(exc.advise(DAEMON_NEVER_DOWNLOADS)) from None
        except MemoryError as exc:
            raise request_failed(f"not enough memory to load {name}: {exc}", "OutOfMemory") from exc
        except RuntimeError as exc:
            if _is_out_of_memory(exc):
                self.unload()
                raise request_failed(
                    f"out of memory loading {name} on {request.device}: choose a smaller model, dtype bfloat16, "
                    "or device cpu",
                    "OutOfMemory",
                ) from exc
            raise
        self.lm, self.loaded = lm, request
        self.info = LoadedInfo(lm.name, str(lm.device), lm.dtype_name, lm.parameters, lm.context_length)
        log.info("loaded %s on %s (%s) in %.1f s", lm.name, lm.device, lm.dtype_name, time.perf_counter() - started)
        return self.info

    def unload(self) -> None:
        """Release the resident model (before loading another: two at once may not fit)."""
        lm = self.lm
        if lm is None:
            return
        self.lm, self.loaded, self.info = None, None, None
        lm.release()

    def attribute(
        self, job: AttributionJob, report: Report, is_cancelled: IsCancelled, partial: Partial | None = None
    ) -> ResultData:
        """Attribute ``job`` (from the cache when the same request was computed before); ``partial``
        gets each finished group of targets while it runs (not for a cached result: that is whole)."""
        if not self._labels:
            self.methods()
        from ..engine import attribute, get_method
        from ..engine.errors import ContextLengthError, InputError

        get_method(job.method)  # an unknown method fails here, before a model is loaded for it
        self._check_step_function(job.options.get("step_function"))

        self.load(job.model, report)
        lm = self.lm
        assert lm is not None
        key = cache_key(self._key_material(lm, job))
        hit = self.cache.get(key)
        if hit is not None:
            return self._plain(hit, cached=True)

        def progress(done: int, total: int, message: str) -> None:
            report(message, int(100 * done / total) if total else None)

        report("starting", 0)
        kwargs: dict[str, Any] = {
            **job.options,
            "method": job.method,
            "progress": progress,
            "is_cancelled": is_cancelled,
        }
        if partial is not None:
            kwargs["on_partial"] = lambda part: partial(_plain_partial(part))
        if job.selection_start is not None:
            kwargs["selection_start"] = job.selection_start
        if job.symbols:
            kwargs["symbols"] = [{"start": a, "end": b, "kind": k, "name": n} for a, b, k, n in job.symbols]

        target = job.target
        if target.kind == "generate":
            kwargs["max_new_tokens"] = target.max_new_tokens
        else:
            kwargs["target_text"] = target.text
            if target.kind == "following":
                kwargs["max_target_tokens"] = target.max_tokens
        try:
            result = attribute(lm, job.prompt, **kwargs)
        except ContextLengthError as exc:  # in the editor the prompt is the selection
            raise InputError(exc.advise("select less text", "ask for fewer tokens")) from None
        except RuntimeError as exc:
            if not _is_out_of_memory(exc):
                raise
            lm.release_cached_memory()
            raise request_failed(
                f"out of memory attributing on {lm.device}: select less text, ask for fewer target tokens, "
                "lower nSteps, or set internalBatchSize to a small number",
                "OutOfMemory",
            ) from exc
        self.cache.put(key, result)
        return self._plain(result, cached=False)

    def compare(
        self, job: AttributionJob, methods: list[str] | None, report: Report, is_cancelled: IsCancelled
    ) -> dict[str, Any]:
        """Several methods on ``job``'s prompt and target, each evaluated (engine/compare.py)."""
        from ..engine.compare import compare
        from ..engine.errors import ContextLengthError, InputError

        self._check_step_function(job.options.get("step_function"))
        self.load(job.model, report)
        lm = self.lm
        assert lm is not None

        def progress(done: int, total: int, message: str) -> None:
            report(message, int(100 * done / total) if total else None)

        kwargs: dict[str, Any] = {**job.options, "progress": progress, "is_cancelled": is_cancelled}
        if job.target.kind == "generate":
            kwargs["max_new_tokens"] = job.target.max_new_tokens
        else:
            kwargs["target_text"] = job.target.text
            if job.target.kind == "following":
                kwargs["max_target_tokens"] = job.target.max_tokens
        try:
            return compare(lm, job.prompt, methods=methods, **kwargs)
        except ContextLengthError as exc:
            raise InputError(exc.advise("select less text", "ask for fewer tokens")) from None

    def against(self, job: AttributionJob, other: str, report: Report) -> dict[str, Any]:
        """``job``'s prompt and ``other`` attributed for the same target (engine/against.py)."""
        from ..engine.against import attribute_against
        from ..engine.errors import ContextLengthError, InputError

        self._check_step_function(job.options.get("step_function"))
        self.load(job.model, report)
        lm = self.lm
        assert lm is not None
        kwargs: dict[str, Any] = dict(job.options)
        if job.target.kind == "generate":
            kwargs["max_new_tokens"] = job.target.max_new_tokens
        else:
            kwargs["target_text"] = job.target.text
        report("attributing both inputs", None)
        try:
            return attribute_against(lm, job.prompt, other, method=job.method, **kwargs)
        except ContextLengthError as exc:
            raise InputError(exc.advise("select less text", "ask for fewer tokens")) from None

    def _check_step_function(self, step: Any) -> None:
        """An unknown step function fails before a model is loaded, with what a client can do (the
        engine's own message also offers ``module:function``, which the server refuses)."""
        if not isinstance(step, str):
            return
        from ..engine.errors import InputError
        from ..engine.step_functions import get_step_function

        try:
            get_step_function(step)
        except InputError as exc:
            if not str(exc).startswith("unknown step function"):
                raise  # a plugin that failed to load: its own message names it
            known = ", ".join(s["id"] for s in self.step_functions())
            raise InputError(
                f"unknown step function {step!r}; the daemon has: {known} (tokenlight/stepFunctions). "
                "Your own: install it as an entry point in group tokenlight.step_functions and restart the daemon"
            ) from None

    @staticmethod
    def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        """B − A of two results (``tokenlight.diff``: the alignment the CLI's ``tokenlight diff``
        uses). Pure and stateless, so unlike the rest of the runner it may run on any thread."""
        from ..diff import diff_results

        return diff_results(a, b)

    # ------------------------------------------------------------------------------------------
    def memory_bytes(self) -> int | None:
        """Bytes in use: allocated GPU memory when the model is on CUDA, else this process's RSS."""
        gpu = self.lm.memory_bytes() if self.lm is not None else None
        return gpu if gpu is not None else process_rss()

    def _key_material(self, lm: LoadedModel, job: AttributionJob) -> dict[str, Any]:
        return {
            "model": lm.identity,  # also covers dtype, device and the library versions
            "method": job.method,
            # resolved: a request that spells out a default shares its result with one that leaves it
            # out; execution options (speed and memory only) are left out of the key altogether
            "options": deciding_options(job.options),
            "prompt": job.prompt,
            "selectionStart": job.selection_start,
            "symbols": [list(s) for s in job.symbols],
            "target": {
                "kind": job.target.kind,
                "maxNewTokens": job.target.max_new_tokens,
                "text": job.target.text,
                "maxTokens": job.target.max_tokens,
            },
        }

    def _plain(self, res: Attribution, *, cached: bool) -> ResultData:
        def floats(values: Any) -> list[float]:
            return [float(v) for v in values.tolist()]

        return ResultData(
            model={"name": res.model.name, "device": res.model.device, "dtype": res.model.dtype},
            method=res.method,
            method_label=self._labels.get(res.method, res.method),
            has_delta=res.deltas is not None,
            step_function=res.step_function,
            baseline=res.baseline,
            n_steps=res.n_steps,
            prompt=res.prompt,
            continuation=res.continuation,
            target_kind=res.target_kind,
            source_tokens=[
                TokenData(t.text, t.start, t.end, t.special, label=t.label, side=t.side, template=t.template)
                for t in res.source_tokens
            ],
            target_tokens=[
                TokenData(t.text, t.start, t.end, t.special, t.probability, t.label) for t in res.target_tokens
            ],
            scores=[[None if math.isnan(v) else v for v in row] for row in res.scores.tolist()],
            deltas=None if res.deltas is None else floats(res.deltas),
            target_scores=floats(res.target_scores),
            baseline_scores=None if res.baseline_scores is None else floats(res.baseline_scores),
            notes=list(res.notes),
            warnings=list(res.warnings),
            converged=None if res.converged is None else [bool(c) for c in res.converged.tolist()],
            elapsed_ms=float(res.elapsed_ms),
            cached=cached,
            spans=[
                SpanData(
                    s.kind,
                    s.label,
                    s.start,
                    s.end,
                    s.first,
                    s.last,
                    [None if math.isnan(v) else v for v in res.span_scores[:, i].tolist()],
                    None if res.span_drilled is None else [bool(v) for v in res.span_drilled[:, i].tolist()],
                )
                for i, s in enumerate(res.spans)
            ],
            span_fit=None if res.span_fit is None else floats(res.span_fit),
            context_start=res.context_start,
            faithfulness=res.faithfulness,
            sanity=res.sanity,
            per_layer=res.json_per_layer(),
            budget=self._described.get(res.method, {}).get("budget"),
            uses_step_function=bool(self._described.get(res.method, {}).get("usesStepFunction", True)),
        )


def _plain_partial(part: PartialResult) -> PartialData:
    return PartialData(
        targets=list(part.targets),
        source_tokens=[TokenData(t.text, t.start, t.end, t.special, template=t.template) for t in part.source_tokens],
        scores=[[None if math.isnan(v) else v for v in row] for row in part.scores.tolist()],
        deltas=None if part.deltas is None else [float(v) for v in part.deltas.tolist()],
    )


def _is_out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def process_rss() -> int | None:
    """Resident set size of this process in bytes (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
    except (ImportError, OSError):
        return None
