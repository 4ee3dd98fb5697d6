"""Two inputs side by side, explained for the same target (the situation of captum #311, where two
sentences with opposite predictions got near-identical maps because the target was wrong).

The first input chooses the target: its continuation (generated or forced) is forced on the second
input, or for a classifier its class is explained on both. The two token sequences are aligned with
:class:`difflib.SequenceMatcher` over the token texts (the standard library's longest-matching-block
alignment; tokens of equal text pair up, inserted or deleted ones stand alone), and each aligned pair
gets the difference of its scores, B − A, per target.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from .attribution import attribute
from .errors import InputError
from .generation import generate
from .models import SEQUENCE_CLASSIFIER, LoadedModel
from .options import resolve
from .problem import check_context
from .result import Attribution
from .tokens import continuation_tokens, tokenize_with_spans


def attribute_against(
    lm: LoadedModel,
    text: str,
    other: str,
    *,
    method: str | None = None,
    target_text: str | None = None,
    max_target_tokens: int | None = None,
    target_class: int | str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Attribute ``text`` and ``other`` for the same target; the aligned differences, JSON-ready."""
    common: dict[str, Any] = dict(options)
    if method is not None:
        common["method"] = method
    if target_text is None and lm.kind != SEQUENCE_CLASSIFIER:
        # generate once and force the text on both: re-tokenising a generated continuation need not
        # give back the generated ids, so forcing it on the second input alone could change the target
        target_text = _generated_text(lm, text, options)
        if target_text == "":
            raise InputError("the model generated nothing after the first input (EOS at once); give --target-text")
    first = attribute(
        lm, text, target_text=target_text, max_target_tokens=max_target_tokens, target_class=target_class, **common
    )
    if first.target_kind == "class":
        second = attribute(lm, other, target_class=first.target_tokens[0].id, **common)
        shown = f"class {first.target_tokens[0].text!r} on both inputs"
    else:
        second = attribute(lm, other, target_text=first.continuation, **common)
        shown = f"the continuation {first.continuation!r}, forced on both inputs"
    if [t.id for t in first.target_tokens] != [t.id for t in second.target_tokens]:
        raise InputError(  # forced text is tokenised on its own, so this means a tokenizer that depends on context
            "the target tokenises differently after the second input; give a target that starts a new word "
            "(--target-text) so that both inputs are explained for the same tokens"
        )
    return {
        "method": first.method,
        "target": shown,
        "targetTokens": [t.text for t in first.target_tokens],
        "a": {"prompt": text, "targetScores": first.target_scores.tolist()},
        "b": {"prompt": other, "targetScores": second.target_scores.tolist()},
        "aligned": align(first, second),
    }


def _generated_text(lm: LoadedModel, text: str, options: dict[str, Any]) -> str:
    resolved = resolve(options)
    sources = tokenize_with_spans(lm.tokenizer, text, add_special_tokens=True, add_bos=True)
    if not sources:
        raise InputError(f"the prompt is empty and {lm.name} has no BOS token to start from; give some text")
    check_context(lm, len(sources), resolved["max_new_tokens"])
    continuation, _ = continuation_tokens(lm.tokenizer, generate(lm, [t.id for t in sources], resolved))
    return continuation


def align(a: Attribution, b: Attribution) -> list[dict[str, Any]]:
    """One row per aligned source token: its index on each side (None where it has no partner), its
    text, each side's scores per target and their difference B − A (None without a partner)."""
    texts_a = [t.text for t in a.source_tokens]
    texts_b = [t.text for t in b.source_tokens]
    matcher = difflib.SequenceMatcher(a=texts_a, b=texts_b, autojunk=False)
    rows: list[dict[str, Any]] = []

    def column(res: Attribution, i: int | None) -> list[float] | None:
        return None if i is None else [float(v) for v in res.source_scores[:, i].astype(np.float64)]

    def add(i: int | None, j: int | None) -> None:
        sa, sb = column(a, i), column(b, j)
        rows.append(
            {
                "a": i,
                "b": j,
                "text": texts_a[i] if i is not None else texts_b[j] if j is not None else "",
                "textB": None if j is None else texts_b[j],
                "scoresA": sa,
                "scoresB": sb,
                "difference": None if sa is None or sb is None else [y - x for x, y in zip(sa, sb, strict=True)],
            }
        )

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            for k in range(i2 - i1):
                add(i1 + k, j1 + k)  # same text, or a same-length substitution: a pair
            continue
        for i in range(i1, i2):
            add(i, None)
        for j in range(j1, j2):
            add(None, j)
    return rows
