"""``attribute()``: text in, :class:`Attribution` out.

Three steps, each a function: resolve the options (:mod:`.options`: validation and defaults live
there), build the problem (:mod:`.problem`), run the method (in target groups on their own prefixes
when that is cheaper), and assemble the result. One code path for every method; the method only sees
tensors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .aggregate import aggregate as aggregate_scores
from .grouping import group_hooks, plan_target_groups
from .heads import CausalTargets
from .kernel import Hooks, default_chunk_size
from .methods import AttributionMethod, AttributionProblem, MethodOutput, get_method
from .models import SEQ2SEQ_LM, LoadedModel
from .options import DEFAULT_METHOD, resolve
from .problem import Problem, build_problem
from .result import Attribution, ModelInfo
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
    if lm.kind == SEQ2SEQ_LM:
        _check_seq2seq(impl.id, resolved)
    if resolved["layer"] is not None and not impl.supports_layer:
        from .errors import InputError
        from .methods import list_methods

        able = ", ".join(m.id for m in list_methods() if m.supports_layer)
        raise InputError(f"{impl.id} cannot attribute to a layer (option layer); use one of: {able}")
    problem = build_problem(
        lm, text, resolved, target_text=target_text, max_target_tokens=max_target_tokens, target_class=target_class
    )
    out = _run_method(impl, lm, problem, resolved, Hooks(progress, is_cancelled))
    result = _assemble(impl, lm, text, problem, out, resolved, started)
    return aggregate_scores(result, lm.tokenizer, resolved["aggregate"])


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
    impl: AttributionMethod, lm: LoadedModel, p: Problem, options: dict[str, Any], hooks: Hooks
) -> MethodOutput:
    """The method over all targets at once, or over target groups on their own prefixes."""
    n_sources, n_targets = len(p.sources), len(p.targets)
    ids = torch.tensor(p.input_ids, device=lm.device)
    config = lm.model.config
    n_layers: int = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None) or 12
    every = frozenset(i for i, t in enumerate([*p.sources, *p.targets]) if t.special)
    batch = options["internal_batch_size"]

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
                    p.inputs.element_size(),
                )
            ),
            options=options,
            hooks=group_hooks,
            model=lm.model,
            input_ids=ids[:length],
            special_positions=frozenset(i for i in every if i < length),
            target_positions=None
            if not p.causal
            else torch.arange(n_sources - 1 + a, n_sources - 1 + b, device=lm.device),
        )

    if not p.causal or not options["group_targets"]:
        return impl.attribute(make_problem(0, n_targets, p.target_fn, hooks))
    return _attribute_in_groups(impl, lm, p, hooks, make_problem)


def _attribute_in_groups(
    impl: AttributionMethod,
    lm: LoadedModel,
    p: Problem,
    hooks: Hooks,
    make_problem: Callable[..., AttributionProblem],
) -> MethodOutput:
    """Run the method once per target group (causal truncation) and stitch the rows together."""
    n_sources, n_targets = len(p.sources), len(p.targets)
    groups = plan_target_groups(n_sources, n_targets)
    hooks_for = group_hooks(hooks, groups, n_targets)
    scores = torch.zeros(n_targets, p.inputs.shape[0], dtype=torch.float64, device=lm.device)
    deltas: list[torch.Tensor] = []
    points: list[int] = []
    out = None
    for a, b in groups:
        fn = (
            p.make_targets(a, b)
            if p.make_targets is not None
            else CausalTargets(lm.model, p.step, [t.id for t in p.targets[a:b]], p.contrast_id)
        )
        out = impl.attribute(make_problem(a, b, fn, hooks_for(a, b)))
        scores[a:b, : out.scores.shape[1]] = out.scores
        if out.deltas is not None:
            deltas.append(out.deltas)
        if out.n_steps is not None:
            points.append(out.n_steps)
    assert out is not None
    return MethodOutput(
        scores,
        torch.cat(deltas) if deltas else None,
        max(points) if points else None,  # each group converges on its own; report the most used
        uses_baseline=out.uses_baseline,
        warnings=out.warnings,  # about the method on this model: the same for every group
    )


def _assemble(
    impl: AttributionMethod,
    lm: LoadedModel,
    text: str,
    p: Problem,
    out: MethodOutput,
    options: dict[str, Any],
    started: float,
) -> Attribution:
    """The :class:`Attribution`: scores cut at each target's causal boundary, notes, metadata."""
    n_sources, n_targets = len(p.sources), len(p.targets)
    width = n_sources + (n_targets if p.causal else 0)
    scores = np.full((n_targets, width), np.nan, dtype=np.float32)
    raw = out.scores.detach().cpu().numpy()
    for t in range(n_targets):
        visible = n_sources + t if p.causal else n_sources
        scores[t, :visible] = raw[t, :visible]
    baseline_equal, notes = _baseline_equal_notes(p, out, width)
    notes.extend(out.warnings)
    converged = None
    if out.deltas is not None:
        converged = impl.converged(out.deltas, p.target_scores, p.baseline_scores).cpu().numpy().astype(bool)
        notes.extend(impl.delta_notes(out.deltas, p.target_scores, p.baseline_scores))
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
