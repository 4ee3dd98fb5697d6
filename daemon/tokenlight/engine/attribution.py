"""``attribute()``: text in, :class:`Attribution` out.

Three steps, each a function: resolve the options (:mod:`.options`: validation and defaults live
there), build the problem (:mod:`.problem`), run the method (in target groups on their own prefixes
when that is cheaper), and assemble the result. One code path for every method; the method only sees
tensors.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .aggregate import aggregate as aggregate_scores
from .aggregate import rows_in, word_groups
from .compilation import run_compiled
from .depth import DEFAULT_STEPS as LAYER_VIEW_STEPS
from .depth import per_layer, resolve_target
from .errors import InputError, OutOfMemoryAtOnePoint
from .faithfulness import evaluate_faithfulness
from .grouping import group_hooks, plan_target_groups, stream_first_group_size, stream_group_size
from .heads import CausalTargets
from .kernel import MAX_POINTS_PER_PASS_GPU, Hooks, default_chunk_size, evaluate_targets
from .memory import bytes_per_point, memory_budget, recomputed_layers
from .methods import AttributionMethod, AttributionProblem, MethodOutput, get_method
from .models import CAUSAL_LM, SEQ2SEQ_LM, LoadedModel
from .options import DEFAULT_METHOD, resolve
from .problem import Problem, baseline_embeddings, build_problem
from .result import Attribution, ModelInfo, PartialResult
from .sanity import sanity_check
from .spans import Span, build_spans, span_scores
from .tokens import Token


def attribute(
    lm: LoadedModel,
    text: str = "",
    *,
    method: str = DEFAULT_METHOD,
    target_text: str | None = None,
    max_target_tokens: int | None = None,
    target_class: int | str | None = None,
    target: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    on_partial: Callable[[PartialResult], None] | None = None,
    selection_start: int | None = None,
    symbols: Sequence[dict[str, Any]] | None = None,
    **options: Any,
) -> Attribution:
    """Attribute a continuation of ``text`` (or a forced ``target_text``, or a class) to its tokens.

    Args:
        lm (LoadedModel): from :func:`tokenlight.load_model`.
        text (str): the prompt; may be empty (the model continues from BOS).
        method (str): an id from :func:`tokenlight.list_methods`. Default: integrated_gradients.
        target_text (str, optional): force-decode exactly this text and attribute each of its tokens
            (without it, ``max_new_tokens`` tokens are generated).
        max_target_tokens (int, optional): with ``target_text``, keep only its first N tokens (the
            editor's "attribute the following text" sends the rest of the document).
        target_class (int | str, optional): for a sequence classifier, the class (index or label)
            to explain. Default: the predicted class.
        target (str, optional): an alias of ``step_function``.
        progress (callable, optional): ``progress(done, total, message)`` between backward passes.
        is_cancelled (callable, optional): polled between passes; True stops with AttributionCancelled.
        on_partial (callable, optional): called with a :class:`PartialResult` each time a group of
            targets is finished (rows identical to the final result's); the targets are then
            attributed in groups of at most a quarter of them, so the first comes early. Streaming
            changes no result (a target's scores never depend on its group).
        selection_start (int, optional): with ``context="document"``, where the selection starts in
            ``text`` (the document up to the selection's end); a document too long for the model
            keeps its most recent tokens, and only a selection that does not fit is an error.
        symbols (list of dict, optional): an editor's document symbols, ``{start, end, kind, name}``
            in code points into ``text``, for ``granularity="symbol"`` (default: Python's ast).

        **options: any option of :func:`tokenlight.engine.options.list_options` (``n_steps``,
            ``baseline``, ``step_function``, ``n_samples``, ``seed``, ``max_new_tokens``, ...; README's
            options table lists them with their ranges and defaults). Unknown names are an error.

    Returns:
        Attribution: scores ``[T, S+T]`` (NaN at and after each target's own position), deltas and
        the converged mark per target, f(x) and f(x′), tokens with spans, and every option used.
    """
    started = time.perf_counter()
    if target is not None:
        options.setdefault("step_function", target)
    resolved = resolve(options)
    impl = get_method(method)
    if resolved["aggregate"] == "word" and (resolved["granularity"] != "token" or impl.scores_spans):
        raise InputError("aggregate='word' merges tokens, and spans already group them: use granularity='word' instead")
    if resolved["aggregate"] == "word" and resolved["chat"]:
        raise InputError(
            "aggregate='word' does not apply to a chat prompt (its tokens are not the text's): use granularity='word'"
        )
    if resolved["granularity"] == "turn" and not resolved["chat"]:
        raise InputError(
            "granularity turn splits a chat into its turns: turn the chat option on, or choose another granularity"
        )
    if lm.kind == SEQ2SEQ_LM:
        _check_seq2seq(impl.id, resolved)
    if resolved["per_layer"] is not None and lm.kind != CAUSAL_LM:
        raise InputError(
            "the per-layer view (per_layer) is for decoder-only language models: an encoder-decoder has two "
            "stacks of blocks and a classifier no target tokens; drop per_layer"
        )
    if resolved["layer"] is not None and not impl.supports_layer:
        from .methods import list_methods

        able = ", ".join(m.id for m in list_methods() if m.supports_layer)
        raise InputError(f"{impl.id} cannot attribute to a layer (option layer); use one of: {able}")
    problem = build_problem(
        lm,
        text,
        resolved,
        target_text=target_text,
        max_target_tokens=max_target_tokens,
        target_class=target_class,
        selection_start=selection_start,
    )
    spans, span_notes = build_spans(
        text, problem.sources, resolved["granularity"], lm.tokenizer, symbols, chat=problem.chat
    )
    if resolved["granularity"] == "token" and not impl.scores_spans:
        spans = []  # the tokens are the spans: the matrix says it all
    hooks = Hooks(progress, is_cancelled)
    stream = None
    if on_partial is not None:
        sources, to_rows = rows_in(resolved["aggregate"], text, problem.sources, lm.tokenizer)

        def stream(a: int, out: MethodOutput) -> None:
            width = len(problem.sources) + len(problem.targets)
            rows = np.full((out.scores.shape[0], width), np.nan)
            raw = out.scores.detach().cpu().numpy()
            for i in range(rows.shape[0]):
                visible = len(problem.sources) + a + i
                rows[i, :visible] = raw[i, :visible]
            deltas = None if out.deltas is None else out.deltas.detach().cpu().numpy().astype(np.float32)
            on_partial(PartialResult(list(range(a, a + rows.shape[0])), sources, to_rows(rows), deltas))

    view_target = None
    if resolved["per_layer"] is not None:
        if problem.contrast is not None:
            raise InputError(
                "the per-layer view cannot be combined with a contrast prompt or text yet; drop one of them"
            )
        view_target = resolve_target(resolved["per_layer"], len(problem.targets))
    out = _run_method(impl, lm, problem, resolved, hooks, spans if impl.scores_spans else [], stream)
    result = _assemble(impl, lm, text, problem, out, resolved, started, spans, span_notes)
    groups = word_groups(result.prompt, result.source_tokens, lm.tokenizer) if resolved["aggregate"] == "word" else None
    final = aggregate_scores(result, lm.tokenizer, resolved["aggregate"])
    if view_target is not None:
        _, to_rows = rows_in(resolved["aggregate"], text, problem.sources, lm.tokenizer)
        layer_scores, final.layer_deltas = _layer_view(lm, problem, view_target, resolved, hooks)
        final.layer_scores, final.layer_target = to_rows(layer_scores), view_target
    units = source_units(final.source_tokens, groups)
    if resolved["evaluate"]:
        final.faithfulness = evaluate_faithfulness(
            problem.target_fn,
            problem.inputs,
            problem.baselines,
            final.source_scores[:, [i for i, _ in units]],
            [positions for _, positions in units],
            target_positions=_target_positions(problem),
            random_orders=resolved["random_orders"],
            seed=resolved["seed"],
            chunk_size=resolved["internal_batch_size"] or _chunk_size(lm, problem),
            hooks=hooks,
        )
    if resolved["sanity"]:
        final.sanity = sanity_check(
            lm.model,
            original=_unit_scores(out.scores, units),
            rerun=lambda: _unit_scores(
                _rerun(impl, lm, problem, resolved, hooks, spans if impl.scores_spans else []).scores, units
            ),
            seed=resolved["seed"],
        )
    return final


def source_units(sources: list[Token], groups: list[list[int]] | None) -> list[tuple[int, list[int]]]:
    """The non-special source units a faithfulness curve removes: ``(column, input positions)``
    per unit (a token, or with word aggregation a word and its tokens)."""
    groups = groups if groups is not None else [[i] for i in range(len(sources))]
    return [(u, group) for u, (token, group) in enumerate(zip(sources, groups, strict=True)) if not token.special]


def _target_positions(p: Problem) -> list[int]:
    """Each target's absolute position (the output that predicts it; 0 for a classifier's class)."""
    n_sources = len(p.sources)
    return [n_sources - 1 + t if p.causal else 0 for t in range(len(p.targets))]


def _unit_scores(scores: torch.Tensor, units: list[tuple[int, list[int]]]) -> np.ndarray:
    """``[T, U]`` token scores summed into the units (word aggregation's rule)."""
    raw = scores.detach().to(torch.float64).cpu().numpy()
    if not units:  # a prompt of special tokens only (BOS): nothing to rank
        return np.zeros((raw.shape[0], 0))
    return np.stack([raw[:, positions].sum(axis=1) for _, positions in units], axis=1)


def _rerun(
    impl: AttributionMethod, lm: LoadedModel, p: Problem, options: dict[str, Any], hooks: Hooks, spans: list[Span]
) -> MethodOutput:
    """The method again on the same inputs and targets, with f(x) and f(x′) of the model as it is now
    (the sanity check calls this while the model's top layers are re-initialised)."""
    values = evaluate_targets(p.target_fn, p.inputs, p.baselines)
    return _run_method(
        impl, lm, dataclasses.replace(p, target_scores=values[0], baseline_scores=values[1]), options, hooks, spans
    )


def _chunk_size(lm: LoadedModel, p: Problem) -> int:
    """Perturbed inputs per forward for the faithfulness curves: what fits (no gradients are kept, so
    the kernel's estimate for a backward pass is generous), capped like every other pass."""
    config = lm.model.config
    n_layers: int = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None) or 12
    return default_chunk_size(
        MAX_POINTS_PER_PASS_GPU,
        p.inputs.shape[0],
        p.inputs.shape[-1],
        n_layers,
        len(p.targets) * len(lm.tokenizer),
        lm.device,
        p.inputs.element_size(),
    )


def _layer_view(
    lm: LoadedModel, p: Problem, t: int, options: dict[str, Any], hooks: Hooks
) -> tuple[np.ndarray, np.ndarray]:
    """Target t's per-layer view (:mod:`.depth`): scores ``[n_layers, S + T]`` (NaN from the target's
    own position on, as its row of the result) and deltas ``[n_layers]``, on the target's own prefix
    of the input embeddings (whatever the ``layer`` option moved the main problem to)."""
    from .heads import CausalTargets

    visible = len(p.sources) + t
    ids = torch.tensor(p.input_ids[:visible], device=lm.device)
    with torch.no_grad():
        inputs = lm.embedding(ids).detach()
        baselines = baseline_embeddings(p.baseline, lm.embedding, inputs, lm.device)
    alone = CausalTargets(lm.model, p.step, [p.targets[t].id], p.contrast_id, reuse_prefix=False)
    config = lm.model.config
    n_layers: int = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None) or 12
    budget = memory_budget(lm.device, options["memory_budget"])
    scores, values = per_layer(
        lm.model,
        alone,
        inputs,
        baselines,
        n_steps=options["n_steps"] or LAYER_VIEW_STEPS,
        integration=options["integration"],
        chunk_size=lambda n_rows: (
            options["internal_batch_size"]
            or default_chunk_size(
                n_rows,
                visible,
                inputs.shape[-1],
                n_layers,
                len(lm.tokenizer),
                lm.device,
                inputs.element_size(),
                budget=budget,
            )
        ),
        hooks=hooks,
    )
    width = len(p.sources) + len(p.targets)
    rows = np.full((scores.shape[0], width), np.nan)
    rows[:, :visible] = scores.cpu().numpy()
    deltas = (scores.sum(1) - (values[0] - values[1])).cpu().numpy().astype(np.float32)
    return rows, deltas


def _check_seq2seq(method: str, options: dict[str, Any]) -> None:
    from .errors import InputError
    from .seq2seq import UNSUPPORTED_METHODS

    if method in UNSUPPORTED_METHODS:
        raise InputError(
            f"{method} does not apply to encoder-decoder models: {UNSUPPORTED_METHODS[method]}; use "
            "integrated_gradients, input_x_gradient or occlusion"
        )
    if options["layer"] is not None:
        raise InputError("the layer option is for decoder-only models; an encoder-decoder has two stacks of blocks")


def _run_method(
    impl: AttributionMethod,
    lm: LoadedModel,
    p: Problem,
    options: dict[str, Any],
    hooks: Hooks,
    spans: list[Span],
    stream: Callable[[int, MethodOutput], None] | None = None,
) -> MethodOutput:
    """The method over all targets at once, or over target groups on their own prefixes; its decoder
    layers recomputed when one point exceeds the memory budget, and compiled when ``compile_layers``
    asks (:mod:`.compilation`)."""
    n_sources, n_targets = len(p.sources), len(p.targets)
    ids = torch.tensor(p.input_ids, device=lm.device)
    config = lm.model.config
    n_layers: int = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None) or 12
    every = frozenset(i for i, t in enumerate([*p.sources, *p.targets]) if t.special)
    batch = options["internal_batch_size"]
    budget = memory_budget(lm.device, options["memory_budget"])
    element = p.inputs.element_size()
    one_point = bytes_per_point(p.inputs.shape[0], p.inputs.shape[-1], n_layers, n_targets * len(lm.tokenizer), element)
    recompute = impl.recomputable and one_point > budget

    def make_problem(a: int, b: int, fn: Any, group_hooks: Hooks) -> AttributionProblem:
        length = p.inputs.shape[0] if not p.causal else n_sources + b - 1
        return AttributionProblem(
            target_fn=fn,
            inputs=p.inputs[:length],
            baselines=p.baselines[:length],
            n_targets=b - a,
            target_scores=p.target_scores[a:b],
            baseline_scores=p.baseline_scores[a:b],
            chunk_size=lambda n_points: (
                batch
                or default_chunk_size(
                    n_points,
                    length,
                    p.inputs.shape[-1],
                    n_layers,
                    (b - a) * len(lm.tokenizer),
                    lm.device,
                    element,
                    budget=budget,
                    checkpointed=recompute,
                )
            ),
            options=options,
            hooks=group_hooks,
            model=lm.model,
            input_ids=ids[:length],
            special_positions=frozenset(i for i in every if i < length),
            spans=tuple((s.first, s.last) for s in spans),
            retokenise=p.retokenise,
            target_positions=None
            if not p.causal
            else torch.arange(n_sources - 1 + a, n_sources - 1 + b, device=lm.device),
        )

    def run() -> MethodOutput:
        if not p.causal or not options["group_targets"]:
            return impl.attribute(make_problem(0, n_targets, p.target_fn, hooks))
        return _attribute_in_groups(
            impl, lm, p, hooks, make_problem, reuse_prefix=options["reuse_prefix"], stream=stream
        )

    def within_budget() -> MethodOutput:
        why = (
            f"one path point's activations at {p.inputs.shape[0]} tokens (about {one_point / 1024**3:.2f} GiB) "
            f"exceed the memory budget ({budget / 1024**3:.2f} GiB)"
        )
        if not recompute:
            try:
                return run()
            except OutOfMemoryAtOnePoint:
                if not impl.recomputable:
                    raise
                why = f"one path point at {p.inputs.shape[0]} tokens ran out of memory"  # the estimate was too low
        with recomputed_layers(lm.model) as wrapped:
            out = run()
        if wrapped:
            out.notes.append(
                f"{why}: each of the {wrapped} decoder layers kept only its input and was recomputed in every "
                "backward pass (gradient checkpointing): slower, the same scores"
            )
        return out

    return run_compiled(lm, impl, within_budget, hooks) if options["compile_layers"] else within_budget()


def _attribute_in_groups(
    impl: AttributionMethod,
    lm: LoadedModel,
    p: Problem,
    hooks: Hooks,
    make_problem: Callable[..., AttributionProblem],
    *,
    reuse_prefix: bool,
    stream: Callable[[int, MethodOutput], None] | None = None,
) -> MethodOutput:
    """Run the method once per target group (causal truncation) and stitch the rows together;
    ``stream(a, output)`` gets each group's output as soon as it is done."""
    n_sources, n_targets = len(p.sources), len(p.targets)
    if stream is None:
        groups = plan_target_groups(n_sources, n_targets)
    else:
        groups = plan_target_groups(
            n_sources,
            n_targets,
            max_size=stream_group_size(n_targets),
            first_size=stream_first_group_size(n_targets),
        )
    hooks_for = group_hooks(hooks, groups, n_targets)
    scores = torch.zeros(n_targets, p.inputs.shape[0], dtype=torch.float64, device=lm.device)
    deltas: list[torch.Tensor] = []
    points: list[int] = []
    span_parts: dict[str, list[torch.Tensor]] = {"span_scores": [], "drilled": [], "fit": []}
    warnings: list[str] = []
    notes: list[str] = []
    out = None
    for a, b in groups:
        fn = (
            p.make_targets(a, b)
            if p.make_targets is not None
            else CausalTargets(
                lm.model, p.step, [t.id for t in p.targets[a:b]], p.contrast_id, reuse_prefix=reuse_prefix
            )
        )
        out = impl.attribute(make_problem(a, b, fn, hooks_for(a, b)))
        scores[a:b, : out.scores.shape[1]] = out.scores
        if stream is not None:
            stream(a, out)
        if out.deltas is not None:
            deltas.append(out.deltas)
        if out.n_steps is not None:
            points.append(out.n_steps)
        for name, parts in span_parts.items():
            part = getattr(out, name)
            if part is not None:
                parts.append(part)
        # about the method on this model (the same for every group), or about one group's targets
        warnings += [w for w in out.warnings if w not in warnings]
        notes += [n for n in out.notes if n not in notes]
    assert out is not None
    joined = {name: torch.cat(parts) if parts else None for name, parts in span_parts.items()}
    return MethodOutput(
        scores,
        torch.cat(deltas) if deltas else None,
        max(points) if points else None,  # each group converges on its own; report the most used
        uses_baseline=out.uses_baseline,
        warnings=warnings,
        notes=notes,
        span_scores=joined["span_scores"],
        drilled=joined["drilled"],
        fit=joined["fit"],
    )


def _assemble(
    impl: AttributionMethod,
    lm: LoadedModel,
    text: str,
    p: Problem,
    out: MethodOutput,
    options: dict[str, Any],
    started: float,
    spans: list[Span],
    span_notes: list[str],
) -> Attribution:
    """The :class:`Attribution`: scores cut at each target's causal boundary, spans, notes, metadata."""
    n_sources, n_targets = len(p.sources), len(p.targets)
    width = n_sources + (n_targets if p.causal else 0)
    scores = np.full((n_targets, width), np.nan, dtype=np.float32)
    raw = out.scores.detach().cpu().numpy()
    for t in range(n_targets):
        visible = n_sources + t if p.causal else n_sources
        scores[t, :visible] = raw[t, :visible]
    baseline_equal, notes = _baseline_equal_notes(p, out, width)
    if p.context_note:
        notes.insert(0, p.context_note)
    notes.extend(span_notes)
    notes.extend(out.warnings)
    if out.span_scores is not None:
        by_span = out.span_scores.detach().cpu().numpy().astype(np.float32)
        drilled = None if out.drilled is None else out.drilled.detach().cpu().numpy().astype(bool)
        if drilled is not None and any(s.last > s.first for s in spans):
            notes.append(
                f"tokens were scored inside each target's top {options['drill_down']} spans only (drill_down); "
                "the other spans' tokens are 0 in the token matrix"
            )
    else:
        by_span, drilled = span_scores(scores, spans), None
    notes.extend(out.notes)
    converged = None
    if out.deltas is not None:
        converged = impl.converged(out.deltas, p.target_scores, p.baseline_scores).cpu().numpy().astype(bool)
        notes.extend(impl.delta_notes(out.deltas, p.target_scores, p.baseline_scores, out.n_steps))
    return Attribution(
        prompt=text,
        source_tokens=p.sources,
        target_tokens=p.targets,
        scores=scores,
        deltas=None if out.deltas is None else out.deltas.detach().cpu().numpy().astype(np.float32),
        target_scores=p.target_scores.cpu().numpy().astype(np.float32),
        baseline_scores=p.baseline_scores.cpu().numpy().astype(np.float32) if out.uses_baseline else None,
        model=ModelInfo(lm.name, str(lm.device), lm.dtype_name),
        method=impl.id,
        step_function=p.step.id,
        baseline=p.baseline.spec,
        n_steps=out.n_steps,
        elapsed_ms=(time.perf_counter() - started) * 1000.0,
        continuation=p.continuation,
        target_kind=p.target_kind,
        contrast_token=options["contrast_token"] if p.step.needs_contrast else None,
        baseline_equal=baseline_equal,
        notes=notes,
        warnings=list(out.warnings),
        options=dict(options),
        converged=converged,
        spans=spans,
        span_scores=by_span,
        span_drilled=drilled,
        span_fit=None if out.fit is None else out.fit.detach().cpu().numpy().astype(np.float32),
        context_start=p.context_start,
    )


def _baseline_equal_notes(p: Problem, out: MethodOutput, width: int) -> tuple[np.ndarray, list[str]]:
    """Positions holding the baseline token itself (their path attribution is exactly 0), and why."""
    baseline_equal = np.zeros(width, dtype=bool)
    notes: list[str] = []
    # at a layer, h(x) − h(x′) is not zero where the tokens agree: attention mixes the positions
    if out.uses_baseline and p.baseline.token_id is not None and p.layer is None:
        baseline_equal[: len(p.input_ids)] = np.asarray(p.input_ids) == p.baseline.token_id
        if baseline_equal.any():
            positions: list[int] = np.flatnonzero(baseline_equal).tolist()
            where = ", ".join(f"{i} ({_token_at(i, p.sources, p.targets)!r})" for i in positions)
            notes.append(
                f"position(s) {where} hold the baseline token {p.baseline.token_text!r} itself, so x − x′ = 0 "
                "there and their attribution is exactly 0; choose another baseline (e.g. zero) to attribute them"
            )
    return baseline_equal, notes


def _token_at(position: int, sources: list[Token], targets: list[Token]) -> str:
    return sources[position].text if position < len(sources) else targets[position - len(sources)].text
