"""``attribute()``: text in, :class:`Attribution` out.

Builds the attribution problem (tokens with spans, targets by generation or forcing, the step
function as a differentiable function of the input embeddings, the baseline) and hands it to the
chosen method. One code path for every gradient method; the method only sees tensors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .aggregate import AGGREGATIONS
from .aggregate import aggregate as aggregate_scores
from .baselines import Baseline, resolve_baseline, single_token_id
from .errors import ContextLengthError, InputError
from .grouping import group_hooks, plan_target_groups
from .heads import CausalTargets
from .kernel import Hooks, default_chunk_size, evaluate_targets
from .methods import AttributionMethod, AttributionProblem, MethodOutput, get_method
from .models import SEQUENCE_CLASSIFIER, LoadedModel
from .quadrature import RULES
from .result import Attribution, ModelInfo
from .seeding import seeded
from .step_functions import StepFunction, get_step_function
from .tokens import Token, continuation_tokens, tokenize_with_spans

MAX_NEW_TOKENS = 1024


def attribute(
    lm: LoadedModel,
    text: str = "",
    *,
    max_new_tokens: int = 8,
    target_text: str | None = None,
    max_target_tokens: int | None = None,
    target_class: int | str | None = None,
    method: str = "integrated_gradients",
    n_steps: int | None = None,
    baseline: str = "zero",
    step_function: str = "logit",
    target: str | None = None,
    contrast_token: str | None = None,
    internal_batch_size: int | None = None,
    integration: str = "auto",
    tolerance: float | None = None,
    n_samples: int | None = None,
    layers: str | None = None,
    aggregate: str = "token",
    strategy: str | None = None,
    sample: bool = False,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    group_targets: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Attribution:
    """Attribute a continuation of ``text`` (or a forced ``target_text``, or a class) to its tokens.

    Args:
        lm (LoadedModel): from :func:`tokenlight.load_model`.
        text (str): the prompt; may be empty (the model continues from BOS).
        max_new_tokens (int): tokens to generate when no ``target_text`` is given; generation
            stops early at EOS (which is then the last target). Default: 8.
        target_text (str, optional): force-decode exactly this text and attribute each of its tokens.
        max_target_tokens (int, optional): with ``target_text``, keep only its first N tokens (the
            editor's "attribute the following text" sends the rest of the document).
        target_class (int | str, optional): for a sequence classifier, the class (index or label)
            to explain. Default: the predicted class.
        method (str): an id from :func:`tokenlight.list_methods`. Default: integrated_gradients.
        n_steps (int, optional): points on the path for path methods. Default: adaptive — points are
            added (nested Clenshaw-Curtis, 5, 9, 17, ... up to 257) until every target's |delta| is at
            most ``tolerance`` · |f(x) − f(x′)|; the points used are reported in ``n_steps``.
        tolerance (float, optional): relative delta for adaptive integration. Default: 1e-3.
        n_samples (int, optional): samples for the stochastic methods (GradientSHAP, LIME, KernelSHAP);
            they are seeded with ``seed``, so a result is reproducible. Default: the method's own.
        layers (str, optional): for ``attention``: ``last`` (default) or ``mean`` over all layers.
        strategy (str, optional): Discretized IG's anchor search, ``greedy`` (default) or ``maxcount``.
        aggregate (str): ``token`` (default) or ``word``: subword scores summed into the tokenizer's words
            (source tokens only; deltas unchanged).
        baseline (str): ``zero`` (default), ``unk``, ``pad``, ``eos``, ``mask`` or ``token:<text>``.
        step_function (str): ``logit`` (default), ``probability``, ``log_probability``, ``logit_diff``,
            ``probability_diff``. ``target`` is an alias (DESIGN.md spells it so).
        contrast_token (str, optional): the alternative for the ``*_diff`` step functions (one token).
        internal_batch_size (int, optional): interpolation points per forward pass. Changes speed
            and memory, never the result. Default: as many as fit the memory budget.
        integration (str): ``auto`` (default: adaptive without ``n_steps``, Gauss-Legendre with it),
            ``gausslegendre`` or a captum Riemann rule.
        sample, seed, temperature, top_k, top_p: sampling instead of greedy decoding, seeded.
        group_targets (bool): attribute groups of targets on their own prefixes when the cost model
            says it saves time (grouping.py); never changes a result. Default: True.
        progress (callable, optional): ``progress(done, total, message)`` between backward passes.
        is_cancelled (callable, optional): polled between passes; True stops with AttributionCancelled.

    Returns:
        Attribution: scores ``[T, S+T]`` (NaN at and after each target's own position), deltas,
        f(x) and f(x′) per target, tokens with spans, metadata.
    """
    started = time.perf_counter()
    if aggregate not in AGGREGATIONS:
        raise InputError(f"unknown aggregation {aggregate!r}; choose one of: {', '.join(AGGREGATIONS)}")
    tokenizer = lm.tokenizer
    step = get_step_function(target or step_function)
    impl = get_method(method)
    base = resolve_baseline(baseline, tokenizer)
    if integration not in RULES:
        raise InputError(f"unknown integration rule {integration!r}; choose one of: {', '.join(RULES)}")
    if n_samples is not None and not 1 <= n_samples <= 100_000:
        raise InputError(f"n_samples must be between 1 and 100000 (got {n_samples})")
    if tolerance is not None and not 0 < tolerance < 1:
        raise InputError(f"tolerance must be between 0 and 1, e.g. 1e-3 (got {tolerance})")
    if internal_batch_size is not None and internal_batch_size < 1:
        raise InputError(f"internal_batch_size must be at least 1 (got {internal_batch_size})")
    contrast_id = _contrast_id(step, contrast_token, tokenizer, lm)
    hooks = Hooks(progress, is_cancelled)

    if lm.kind == SEQUENCE_CLASSIFIER:
        sources, targets, target_fn, input_ids = _classifier_problem(lm, text, step, target_class)
        continuation, kind = targets[0].text, "class"
    else:
        sources = tokenize_with_spans(tokenizer, text, add_special_tokens=True, add_bos=True)
        if not sources:
            raise InputError(f"the prompt is empty and {lm.name} has no BOS token to start from; give some text")
        _check_context(lm, len(sources), 0)
        if target_text is not None:
            if target_text == "":
                raise InputError("the target text is empty; give the text to force-decode")
            targets = tokenize_with_spans(tokenizer, target_text, add_special_tokens=False, add_bos=False)
            continuation, kind = target_text, "text"
            if max_target_tokens is not None:
                if max_target_tokens < 1:
                    raise InputError(f"max_target_tokens must be at least 1 (got {max_target_tokens})")
                targets = targets[:max_target_tokens]
                continuation = target_text[: max((t.end or 0) for t in targets)]
        else:
            if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
                raise InputError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS} (got {max_new_tokens})")
            _check_context(lm, len(sources), max_new_tokens)
            generated = _generate(lm, [t.id for t in sources], max_new_tokens, sample, seed, temperature, top_k, top_p)
            continuation, targets = continuation_tokens(tokenizer, generated)
            kind = "generate"
        _check_context(lm, len(sources), len(targets))
        input_ids = [t.id for t in sources] + [t.id for t in targets[:-1]]
        target_fn = CausalTargets(lm.model, step, [t.id for t in targets], contrast_id)

    n_sources, n_targets = len(sources), len(targets)
    ids = torch.tensor(input_ids, device=lm.device)
    embedding = lm.embedding
    with torch.no_grad():
        inputs = embedding(ids).detach()
        baselines = _baseline_embeddings(base, embedding, inputs, lm.device)
    if isinstance(target_fn, CausalTargets):
        values, probabilities = target_fn.evaluate_with_probabilities(inputs, baselines)
        targets = [
            Token(t.text, t.id, t.start, t.end, t.special, float(p))
            for t, p in zip(targets, probabilities, strict=True)
        ]
    else:  # a classifier: its one target's probability comes with the class
        values = evaluate_targets(target_fn, inputs, baselines)
    target_scores, baseline_scores = values[0], values[1]

    config = lm.model.config
    n_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 12)
    options = {
        "n_steps": n_steps,
        "integration": integration,
        "tolerance": tolerance,
        "n_samples": n_samples,
        "seed": seed,
        "layers": layers,
        "strategy": strategy,
        "step_function": step.id,
    }

    def make_problem(a: int, b: int, fn: Any, group_hooks: Hooks) -> AttributionProblem:
        length = inputs.shape[0] if lm.kind == SEQUENCE_CLASSIFIER else n_sources + b - 1
        return AttributionProblem(
            target_fn=fn,
            inputs=inputs[:length],
            baselines=baselines[:length],
            n_targets=b - a,
            target_scores=target_scores[a:b],
            baseline_scores=baseline_scores[a:b],
            chunk_size=lambda n_points: (
                internal_batch_size
                or default_chunk_size(
                    n_points,
                    length,
                    inputs.shape[-1],
                    n_layers,
                    (b - a) * len(tokenizer),
                    lm.device,
                    inputs.element_size(),
                )
            ),
            options=options,
            hooks=group_hooks,
            model=lm.model,
            input_ids=ids[:length],
            special_positions=frozenset(i for i, t in enumerate([*sources, *targets][:length]) if t.special),
            target_positions=None
            if lm.kind == SEQUENCE_CLASSIFIER
            else torch.arange(n_sources - 1 + a, n_sources - 1 + b, device=lm.device),
        )

    if lm.kind == SEQUENCE_CLASSIFIER or not group_targets:
        out = impl.attribute(make_problem(0, n_targets, target_fn, hooks))
    else:
        out = _attribute_in_groups(
            impl, lm, step, targets, contrast_id, n_sources, inputs.shape[0], hooks, make_problem
        )

    width = n_sources + (n_targets if lm.kind != SEQUENCE_CLASSIFIER else 0)
    scores = np.full((n_targets, width), np.nan, dtype=np.float32)
    raw = out.scores.detach().cpu().numpy()
    for t in range(n_targets):
        visible = n_sources + t if lm.kind != SEQUENCE_CLASSIFIER else n_sources
        scores[t, :visible] = raw[t, :visible]
    baseline_equal = np.zeros(width, dtype=bool)
    notes: list[str] = []
    if out.uses_baseline and base.token_id is not None:
        baseline_equal[: len(input_ids)] = np.asarray(input_ids) == base.token_id
        if baseline_equal.any():
            where = ", ".join(f"{i} ({_token_at(i, sources, targets)!r})" for i in np.flatnonzero(baseline_equal))
            notes.append(
                f"position(s) {where} hold the baseline token {base.token_text!r} itself, so x − x′ = 0 there "
                "and their attribution is exactly 0; choose another baseline (e.g. zero) to attribute them"
            )
    notes.extend(out.warnings)
    if out.deltas is not None:
        notes.extend(impl.delta_notes(out.deltas, target_scores, baseline_scores))
    result = Attribution(
        prompt=text,
        source_tokens=sources,
        target_tokens=targets,
        scores=scores,
        deltas=None if out.deltas is None else out.deltas.detach().cpu().numpy().astype(np.float32),
        target_scores=target_scores.cpu().numpy().astype(np.float32),
        baseline_scores=baseline_scores.cpu().numpy().astype(np.float32) if out.uses_baseline else None,
        model=ModelInfo(lm.name, str(lm.device), lm.dtype_name),
        method=impl.id,
        step_function=step.id,
        baseline=base.spec,
        n_steps=out.n_steps,
        elapsed_ms=(time.perf_counter() - started) * 1000.0,
        continuation=continuation,
        target_kind=kind,
        contrast_token=contrast_token if step.needs_contrast else None,
        baseline_equal=baseline_equal,
        notes=notes,
        warnings=list(out.warnings),
        options={
            "integration": integration,
            "tolerance": tolerance,
            "n_samples": n_samples,
            "layers": layers,
            "internal_batch_size": internal_batch_size,
            "sample": sample,
            "seed": seed,
        },
    )
    return aggregate_scores(result, tokenizer, aggregate)


# ----------------------------------------------------------------------------------------------


def _attribute_in_groups(
    impl: AttributionMethod,
    lm: LoadedModel,
    step: StepFunction,
    targets: list[Token],
    contrast_id: int | None,
    n_sources: int,
    seq_len: int,
    hooks: Hooks,
    make_problem: Callable[..., AttributionProblem],
) -> MethodOutput:
    """Run the method once per target group (causal truncation) and stitch the rows together."""
    n_targets = len(targets)
    groups = plan_target_groups(n_sources, n_targets)
    hooks_for = group_hooks(hooks, groups, n_targets)
    scores = torch.zeros(n_targets, seq_len, dtype=torch.float64, device=lm.device)
    deltas: list[torch.Tensor] = []
    points: list[int] = []
    out = None
    for a, b in groups:
        fn = CausalTargets(lm.model, step, [t.id for t in targets[a:b]], contrast_id)
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


def _baseline_embeddings(
    base: Baseline, embedding: torch.nn.Module, inputs: torch.Tensor, device: torch.device
) -> torch.Tensor:
    if base.token_id is None:
        return torch.zeros_like(inputs)
    ids = torch.full((inputs.shape[0],), base.token_id, device=device)
    return embedding(ids).detach()


def _contrast_id(step: StepFunction, contrast_token: str | None, tokenizer: Any, lm: LoadedModel) -> int | None:
    if not step.needs_contrast:
        if contrast_token is not None:
            raise InputError(
                f"a contrast token only applies to logit_diff / probability_diff, not {step.id!r}; "
                "drop it or choose a contrastive step function"
            )
        return None
    if lm.kind == SEQUENCE_CLASSIFIER:
        raise InputError(f"{step.id} compares two tokens and needs a causal language model")
    if contrast_token is None:
        raise InputError(f"{step.id} needs a contrast token: the alternative to explain against (--contrast-token)")
    return single_token_id(tokenizer, contrast_token, what="contrast token")


def _check_context(lm: LoadedModel, n_sources: int, n_new: int) -> None:
    limit = lm.context_length
    if limit is None or n_sources + n_new <= limit:
        return
    raise ContextLengthError(lm.name, limit, n_sources, n_new)


def _generate(
    lm: LoadedModel,
    prompt_ids: list[int],
    max_new_tokens: int,
    sample: bool,
    seed: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
) -> list[int]:
    """Greedy (default, deterministic) or seeded sampling; stops after EOS, which is kept."""
    from transformers import GenerationConfig

    tok = lm.tokenizer
    if sample and temperature <= 0:
        raise InputError("temperature must be above 0 when sampling")
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sample,
        temperature=temperature if sample else None,
        top_k=top_k if sample else None,
        top_p=top_p if sample else None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
    )
    ids = torch.tensor([prompt_ids], device=lm.device)
    with seeded(seed, lm.device), torch.no_grad():
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
    return out[0, len(prompt_ids) :].tolist()


def _classifier_problem(lm: LoadedModel, text: str, step: StepFunction, target_class: int | str | None):
    tokenizer, model = lm.tokenizer, lm.model
    sources = tokenize_with_spans(tokenizer, text, add_special_tokens=True, add_bos=False)
    if not sources:
        raise InputError("the text is empty; a classifier needs some text to classify")
    _check_context(lm, len(sources), 0)
    if model.config.pad_token_id is None:
        # only consulted to find the last real token from input_ids; we pass embeddings of one
        # unpadded sequence, so any id works and batching interpolation points becomes possible
        model.config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id or 0
    ids = torch.tensor([[t.id for t in sources]], device=lm.device)
    with torch.no_grad():
        probs = model(input_ids=ids).logits[0].float().softmax(-1)
    labels = {int(k): v for k, v in (model.config.id2label or {}).items()}
    if target_class is None:
        cls = int(probs.argmax())
    elif isinstance(target_class, str) and not target_class.lstrip("-").isdigit():
        by_label = {v: k for k, v in labels.items()}
        if target_class not in by_label:
            raise InputError(f"unknown class {target_class!r}; this model's classes are: {', '.join(labels.values())}")
        cls = by_label[target_class]
    else:
        cls = int(target_class)
    if not 0 <= cls < probs.shape[0]:
        raise InputError(f"class {cls} does not exist; this model has classes 0..{probs.shape[0] - 1}")
    target = Token(labels.get(cls, f"class {cls}"), cls, None, None, False, float(probs[cls]))
    class_ids = torch.tensor([cls], device=lm.device)

    def target_fn(emb: torch.Tensor) -> list[torch.Tensor]:
        return [step.fn(model(inputs_embeds=emb).logits.unsqueeze(1), class_ids, None)[:, 0]]

    return sources, [target], target_fn, [t.id for t in sources]


def _token_at(position: int, sources: list[Token], targets: list[Token]) -> str:
    return sources[position].text if position < len(sources) else targets[position - len(sources)].text
