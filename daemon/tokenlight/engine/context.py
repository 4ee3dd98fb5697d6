"""Fitting a document into the model's context: keep the most recent tokens.

With ``context: document`` the prompt is the text from the document's start to the end of the
selection. When that is longer than the model accepts, the earliest tokens are left out: the kept
context starts at the first line start that leaves room (or at a token boundary when no line start
does), a note says where, and it is an error only when the selection alone does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ContextLengthError
from .symbols import line_of, line_starts
from .tokens import Token


@dataclass(frozen=True)
class FittedContext:
    sources: list[Token]
    start: int  # code point of the prompt where the kept context starts (0: all of it)
    note: str | None


def fit_document(
    model_name: str,
    limit: int | None,
    prompt: str,
    sources: list[Token],
    selection_start: int,
    n_new: int,
) -> FittedContext:
    """``sources`` (the whole prompt's tokens, BOS first when the model has one) cut to fit ``limit``
    together with ``n_new`` targets."""
    if limit is None or len(sources) + n_new <= limit:
        return FittedContext(sources, 0, None)
    head = [t for t in sources[:1] if t.special]  # BOS stays: the model was trained to start with it
    body = sources[len(head) :]
    budget = limit - n_new - len(head)
    selection = [t for t in body if t.end is None or t.end > selection_start]
    if budget < len(selection):
        raise ContextLengthError(model_name, limit, len(selection) + len(head), n_new)
    cut = len(body) - budget  # the first kept token, at the earliest
    first_selected = len(body) - len(selection)
    starts = line_starts(prompt)
    line_start = set(starts)
    for i in range(cut, first_selected + 1):
        start = body[i].start if i < len(body) else None
        if start is not None and start in line_start:
            cut = i  # a whole first line reads better than a line's tail
            break
    kept = body[cut:]
    start = next((t.start for t in kept if t.start is not None), len(prompt))
    line = line_of(starts, start) + 1
    note = (
        f"the document is {len(sources)} tokens and {model_name} accepts {limit} with {n_new} to attribute: "
        f"the context starts at line {line} (character {start}); the {cut} tokens before it were left out"
    )
    return FittedContext(head + kept, start, note)
