"""The attribution problem, built from text: tokens with spans, the targets (generated, forced or a
class), the step function as a differentiable function of the input embeddings, and the baseline.

One builder per kind of model (causal LMs, sequence classifiers); :func:`attribute` hands the result
to a method, which only ever sees tensors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .baselines import Baseline, resolve_baseline, single_token_id
from .chat import ChatPrompt, chat_prompt, droppable
from .context import FittedContext, fit_document
from .contrast import ContrastSequence, ContrastTargets, contrast_sequence
from .errors import ContextLengthError, InputError
from .generation import generate
from .heads import CausalTargets
from .kernel import TargetFn, evaluate_targets
from .layers import LayerTargets, layer_activations, resolve_layer
from .models import CAUSAL_LM, SEQ2SEQ_LM, SEQUENCE_CLASSIFIER, LoadedModel
from .seq2seq import Seq2SeqContrastTargets, Seq2SeqTargets, encoder_input_scale, seq2seq_contrast, seq2seq_targets
from .step_functions import StepFunction, get_step_function
from .symbols import line_of, line_starts
from .tokens import Token, continuation_tokens, forced_targets, tokenize_with_spans


@dataclass
class Problem:
    """What one call to :func:`attribute` explains, before a method sees it.

    Attributes:
        sources: the S prompt tokens (BOS included, with no span).
        targets: the T targets, each with its probability.
        continuation, target_kind: the attributed text and how it was chosen (``generate``,
            ``text``, ``class``).
        input_ids: the ids behind ``inputs`` (sources, then every target but the last).
        inputs, baselines: ``[L, d]`` input and baseline embeddings.
        target_fn: embeddings ``[n, L, d]`` -> the T target values.
        target_scores, baseline_scores: float64 ``[T]`` f(x) and f(x′).
        step, baseline, contrast_id: the step function, baseline and contrast token resolved.
        context_start: the code point of the prompt where the attributed context starts (0 unless a
            document was cut to fit the model); context_note says so when it was.
        make_targets: ``(a, b)`` -> the target function of targets a..b on their own prefix (target
            groups, attribution.py).
        contrast: the contrast prompt / text (:mod:`.contrast`), or None.
        layer: the block whose output is attributed (:mod:`.layers`; inputs and baselines are then
            its activations), or None: the input embeddings.
        chat: the chat-templated prompt (:mod:`.chat`; ``sources`` are its tokens), or None.
        retokenise: keep mask over ``sources`` -> the ids of the prompt with the left-out tokens'
            text deleted, tokenised again (``ablation: remove``); None where that is not defined
            (a classifier, an encoder-decoder, a chat prompt, a layer).
    """

    sources: list[Token]
    targets: list[Token]
    continuation: str
    target_kind: str
    input_ids: list[int]
    inputs: torch.Tensor
    baselines: torch.Tensor
    target_fn: Any
    target_scores: torch.Tensor
    baseline_scores: torch.Tensor
    step: StepFunction
    baseline: Baseline
    contrast_id: int | None
    context_start: int = 0
    context_note: str | None = None
    make_targets: Callable[[int, int], Any] | None = None
    contrast: ContrastSequence | None = None
    layer: int | None = None
    chat: ChatPrompt | None = None
    retokenise: Callable[[list[bool]], list[int]] | None = None

    @property
    def causal(self) -> bool:
        return self.target_kind != "class"


def build_problem(
    lm: LoadedModel,
    text: str,
    options: dict[str, Any],
    *,
    target_text: str | None,
    max_target_tokens: int | None,
    target_class: int | str | None,
    selection_start: int | None = None,
) -> Problem:
    """Tokens, targets, embeddings and f(x), f(x′) for ``text`` under the resolved ``options``.

    With ``options["context"] == "document"``, ``text`` is a document up to the end of the selection,
    which starts at code point ``selection_start`` (default: the end): a document too long for the
    model keeps its most recent tokens, and only a selection that does not fit is an error."""
    step = get_step_function(options["step_function"])
    base = resolve_baseline(options["baseline"], lm.tokenizer)
    contrast_id = _contrast_id(step, options, lm)
    contrast: ContrastSequence | None = None
    make_targets: Callable[[int, int], Any] | None = None
    document = options["context"] == "document"
    if selection_start is not None and not document:
        raise InputError("selection_start only applies to context='document' (the text is then the document)")
    if selection_start is not None and not 0 <= selection_start <= len(text):
        raise InputError(f"selection_start {selection_start} is not inside the text (0..{len(text)})")
    where = (len(text) if selection_start is None else selection_start) if document else None
    context_start, context_note = 0, None
    chat: ChatPrompt | None = None
    if options["chat"] and lm.kind != CAUSAL_LM:
        raise InputError("the chat option applies a chat template to a causal language model's prompt; turn it off")
    if lm.kind == SEQUENCE_CLASSIFIER:
        sources, targets, target_fn, input_ids = _classifier_problem(lm, text, step, target_class)
        continuation, kind = targets[0].text, "class"
    elif lm.kind == SEQ2SEQ_LM:
        sources, targets, continuation, kind, n_encoder = seq2seq_targets(
            lm, text, options, target_text, max_target_tokens
        )
        input_ids = [t.id for t in sources] + [t.id for t in targets[:-1]]
        make_targets = _seq2seq_factory(
            lm, step, [t.id for t in targets], contrast_id, n_encoder, seq2seq_contrast(lm, options, targets)
        )
        target_fn = make_targets(0, len(targets))
    else:
        if options["chat"]:
            if options.get("contrast_prompt") is not None:
                raise InputError(
                    "a contrast prompt cannot be combined with the chat option yet (it would not be templated); "
                    "drop one of them, or use a contrast text"
                )
            n_new = (
                len(forced_targets(lm.tokenizer, target_text, max_target_tokens)[1])
                if target_text is not None
                else options["max_new_tokens"]
            )
            chat = _fitted_chat(lm, text, document, n_new)
        sources, targets, continuation, kind, fitted = _causal_targets(
            lm, text, options, target_text, max_target_tokens, where, chat
        )
        context_start, context_note = fitted.start, fitted.note
        input_ids = [t.id for t in sources] + [t.id for t in targets[:-1]]
        contrast = contrast_sequence(lm, step, options, sources, targets)
        make_targets = _target_factory(
            lm, step, [t.id for t in targets], contrast_id, contrast, reuse_prefix=options["reuse_prefix"]
        )
        target_fn = make_targets(0, len(targets))

    ids = torch.tensor(input_ids, device=lm.device)
    with torch.no_grad():
        inputs = lm.embedding(ids).detach()
        baselines = baseline_embeddings(base, lm.embedding, inputs, lm.device)
    if lm.kind == SEQ2SEQ_LM:  # the encoder rows as the encoder itself embeds ids (Marian scales them)
        scale = encoder_input_scale(lm.model)
        inputs[:n_encoder] *= scale
        baselines[:n_encoder] *= scale
    layer = options.get("layer")
    if layer is not None and contrast is not None:
        # the contrast sequence runs through the same block, whose output the layer path replaces
        raise InputError("a contrast prompt or text cannot be combined with the layer option yet; drop one of them")
    if layer is not None:
        layer, inputs, baselines, target_fn, make_targets = _at_layer(
            lm, layer, inputs, baselines, target_fn, make_targets
        )
    if isinstance(target_fn, (CausalTargets, Seq2SeqTargets)) or (
        isinstance(target_fn, LayerTargets) and isinstance(target_fn.inner, CausalTargets)
    ):
        values, probabilities = target_fn.evaluate_with_probabilities(inputs, baselines)
        targets = [dataclasses.replace(t, probability=float(p)) for t, p in zip(targets, probabilities, strict=True)]
    else:  # a classifier: its one target's probability comes with the class
        values = evaluate_targets(target_fn, inputs, baselines)
    retokenise = None
    if lm.kind == CAUSAL_LM and chat is None and layer is None:
        retokenise = _retokeniser(lm, text, sources, context_start)
    return Problem(
        sources, targets, continuation, kind, input_ids, inputs, baselines, target_fn,
        values[0], values[1], step, base, contrast_id, context_start, context_note, make_targets, contrast, layer,
        chat, retokenise,
    )  # fmt: skip


def _retokeniser(
    lm: LoadedModel, text: str, sources: list[Token], context_start: int
) -> Callable[[list[bool]], list[int]]:
    """``keep`` -> the ids of the context (from ``context_start``) with the text of every left-out
    token deleted and the rest tokenised again as the prompt was (BOS first); a left-out special
    token (BOS) is left out of the ids too."""

    def retokenise(keep: list[bool]) -> list[int]:
        pieces, at = [], context_start
        for token, kept in zip(sources, keep, strict=True):
            if kept or token.start is None or token.end is None:
                continue
            pieces.append(text[at : max(at, token.start)])
            at = max(at, token.end)
        pieces.append(text[at:])
        ids = [t.id for t in tokenize_with_spans(lm.tokenizer, "".join(pieces), add_special_tokens=True, add_bos=True)]
        for token, kept in zip(sources, keep, strict=True):
            if not kept and token.special and token.id in ids:
                ids.remove(token.id)
        return ids

    return retokenise


def _fitted_chat(lm: LoadedModel, text: str, transcript: bool, n_new: int) -> ChatPrompt:
    """The chat prompt, its earliest turns left out while it is too long for the model with ``n_new``
    targets (a leading system turn stays); a note says how many. Only a prompt that does not fit
    with its last turn alone is an error (check_context, later)."""
    chat = chat_prompt(lm.tokenizer, lm.name, text, transcript=transcript)
    limit = lm.context_length
    if limit is None or len(chat.sources) + n_new <= limit:
        return chat
    whole = len(chat.sources)
    drop = 0
    for drop in range(1, droppable(text, transcript=transcript) + 1):
        chat = chat_prompt(lm.tokenizer, lm.name, text, transcript=transcript, drop=drop)
        if len(chat.sources) + n_new <= limit:
            break
    if drop:
        first = next(t for t in chat.turns if t.role != "system" or t is not chat.turns[0])
        line = line_of(line_starts(text), first.start) + 1
        chat.notes.append(
            f"chat: the transcript is {whole} tokens with its template and {lm.name} accepts {limit} with {n_new} "
            f"to attribute: its first {drop} turn(s) were left out (the kept turns start at line {line})"
            + (", the system turn kept" if chat.turns[0].role == "system" else "")
        )
    return chat


def _target_factory(
    lm: LoadedModel,
    step: StepFunction,
    target_ids: list[int],
    contrast_id: int | None,
    contrast: ContrastSequence | None,
    *,
    reuse_prefix: bool,
) -> Callable[[int, int], Any]:
    def make(a: int, b: int) -> Any:
        if contrast is not None:
            return ContrastTargets(lm.model, step, target_ids[a:b], contrast, first=a)
        return CausalTargets(lm.model, step, target_ids[a:b], contrast_id, reuse_prefix=reuse_prefix)

    return make


def _seq2seq_factory(
    lm: LoadedModel,
    step: StepFunction,
    target_ids: list[int],
    contrast_id: int | None,
    n_encoder: int,
    contrast: tuple[torch.Tensor | None, torch.Tensor | None, list[int]] | None,
) -> Callable[[int, int], Any]:
    def make(a: int, b: int) -> Any:
        if contrast is not None:
            encoder, continuation, contrast_ids = contrast
            return Seq2SeqContrastTargets(
                lm.model, step, target_ids[a:b], n_encoder,
                encoder=encoder, continuation=continuation, contrast_ids=contrast_ids, first=a,
            )  # fmt: skip
        return Seq2SeqTargets(lm.model, step, target_ids[a:b], contrast_id, n_encoder)

    return make


def _at_layer(
    lm: LoadedModel,
    layer: int,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    target_fn: Any,
    make_targets: Callable[[int, int], Any] | None,
) -> tuple[int, torch.Tensor, torch.Tensor, Any, Callable[[int, int], Any] | None]:
    """The problem moved to block ``layer``'s output (:mod:`.layers`): h(x), h(x′) and the target
    functions of those activations."""
    index, block = resolve_layer(lm.model, layer)
    h_inputs, h_baselines = layer_activations(target_fn, block, inputs, baselines)
    wrapped = LayerTargets(target_fn, block, inputs)
    if make_targets is None:
        return index, h_inputs, h_baselines, wrapped, None
    inner_make = make_targets

    def make(a: int, b: int) -> Any:
        return LayerTargets(inner_make(a, b), block, inputs)

    return index, h_inputs, h_baselines, wrapped, make


def _causal_targets(
    lm: LoadedModel,
    text: str,
    options: dict[str, Any],
    target_text: str | None,
    max_target_tokens: int | None,
    selection_start: int | None,
    chat: ChatPrompt | None = None,
) -> tuple[list[Token], list[Token], str, str, FittedContext]:
    """Sources, targets, the continuation text, the target kind and how the context was fitted
    (``selection_start`` None: the prompt is the selection and must fit whole; a chat prompt was
    fitted by whole turns already, :func:`_fitted_chat`)."""
    tokenizer = lm.tokenizer
    if chat is not None:
        sources = chat.sources
    else:
        sources = tokenize_with_spans(tokenizer, text, add_special_tokens=True, add_bos=True)
    if not sources:
        raise InputError(f"the prompt is empty and {lm.name} has no BOS token to start from; give some text")
    note = "; ".join(chat.notes) if chat is not None and chat.notes else None

    def fit(n_new: int) -> FittedContext:
        if chat is not None:
            check_context(lm, len(sources), n_new)
            return FittedContext(sources, 0, note)
        if selection_start is None:
            check_context(lm, len(sources), n_new)
            return FittedContext(sources, 0, None)
        return fit_document(lm.name, lm.context_length, text, sources, selection_start, n_new)

    fitted = fit(0)
    if target_text is not None:
        continuation, targets = forced_targets(tokenizer, target_text, max_target_tokens)
        fitted = fit(len(targets))
        return fitted.sources, targets, continuation, "text", fitted
    fitted = fit(options["max_new_tokens"])
    generated = generate(lm, [t.id for t in fitted.sources], options)
    continuation, targets = continuation_tokens(tokenizer, generated)
    check_context(lm, len(fitted.sources), len(targets))
    return fitted.sources, targets, continuation, "generate", fitted


def baseline_embeddings(
    base: Baseline, embedding: torch.nn.Module, inputs: torch.Tensor, device: torch.device
) -> torch.Tensor:
    if base.token_id is None:
        return torch.zeros_like(inputs)
    ids = torch.full((inputs.shape[0],), base.token_id, device=device)
    vectors: torch.Tensor = embedding(ids)
    return vectors.detach()


def _contrast_id(step: StepFunction, options: dict[str, Any], lm: LoadedModel) -> int | None:
    """The contrast token's id for a same-sequence contrast; None otherwise (after checking that the
    contrast options given fit the step function)."""
    from .step_functions import list_step_functions

    contrast_token = options["contrast_token"]
    sequence = [name for name in ("contrast_prompt", "contrast_text") if options.get(name) is not None]
    by_token = " / ".join(s.id for s in list_step_functions() if s.needs_contrast and not s.needs_sequence)
    by_sequence = " / ".join(s.id for s in list_step_functions() if s.pair is not None)
    if not step.needs_contrast:
        if contrast_token is not None:
            raise InputError(
                f"a contrast token only applies to {by_token}, not {step.id!r}; "
                "drop it or choose a contrastive step function"
            )
        if sequence:
            raise InputError(
                f"a {sequence[0].replace('_', ' ')} only applies to {by_sequence}, not {step.id!r}; "
                "drop it or choose a contrastive step function"
            )
        return None
    if lm.kind == SEQUENCE_CLASSIFIER:
        raise InputError(f"{step.id} compares two predictions and needs a causal language model")
    if contrast_token is not None and sequence:
        raise InputError(
            f"give either a contrast token or a {sequence[0].replace('_', ' ')}, not both: a contrast token is "
            "one alternative in the same sequence, a contrast prompt / text another sequence"
        )
    if sequence:
        if step.pair is None:
            raise InputError(
                f"{step.id} compares tokens in one sequence; use a contrast token, or one of {by_sequence}"
            )
        return None
    if step.needs_sequence:
        raise InputError(
            f"{step.id} compares two next-token distributions: give a contrast prompt (--contrast-prompt) "
            "or a contrast text (--contrast-text)"
        )
    if contrast_token is None:
        raise InputError(
            f"{step.id} needs a contrast token: the alternative to explain against (--contrast-token), "
            "or a contrast prompt / text (--contrast-prompt, --contrast-text)"
        )
    return single_token_id(lm.tokenizer, contrast_token, what="contrast token")


def check_context(lm: LoadedModel, n_sources: int, n_new: int) -> None:
    limit = lm.context_length
    if limit is None or n_sources + n_new <= limit:
        return
    raise ContextLengthError(lm.name, limit, n_sources, n_new)


def _classifier_problem(
    lm: LoadedModel, text: str, step: StepFunction, target_class: int | str | None
) -> tuple[list[Token], list[Token], TargetFn, list[int]]:
    tokenizer, model = lm.tokenizer, lm.model
    sources = tokenize_with_spans(tokenizer, text, add_special_tokens=True, add_bos=False)
    if not sources:
        raise InputError("the text is empty; a classifier needs some text to classify")
    check_context(lm, len(sources), 0)
    if model.config.pad_token_id is None:
        # only consulted to find the last real token from input_ids; we pass embeddings of one
        # unpadded sequence, so any id works and batching interpolation points becomes possible
        model.config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id or 0
    ids = torch.tensor([[t.id for t in sources]], device=lm.device)
    with torch.no_grad():
        probs = model(input_ids=ids).logits[0].float().softmax(-1)
    labels = {int(k): v for k, v in (model.config.id2label or {}).items()}
    cls = _class_index(target_class, labels, probs)
    target = Token(labels.get(cls, f"class {cls}"), cls, None, None, False, float(probs[cls]))
    class_ids = torch.tensor([cls], device=lm.device)

    def target_fn(emb: torch.Tensor, unchanged_prefix: int = 0) -> list[torch.Tensor]:
        # an encoder's positions see the whole text, so an unchanged prefix has nothing to reuse

        return [step.fn(model(inputs_embeds=emb).logits.unsqueeze(1), class_ids, None)[:, 0]]

    return sources, [target], target_fn, [t.id for t in sources]


def _class_index(target_class: int | str | None, labels: dict[int, str], probs: torch.Tensor) -> int:
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
    return cls
