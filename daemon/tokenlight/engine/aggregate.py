"""Word aggregation: subword scores summed into words.

A "word" is what the tokenizer's pre-tokenizer makes one piece before splitting it into subwords
(``word_ids()`` of a fast tokenizer): for byte-level BPE, " assertEqual" or " 漢字" is one word however
many tokens it took. Attribution is additive over tokens for every method with a completeness
property, so a word's score is the sum of its tokens' scores and the deltas are unchanged. Special
tokens stay on their own; target columns (earlier generated tokens) stay per token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from .options import get_option
from .result import Attribution
from .tokens import Token, Tokenizer


def aggregate(res: Attribution, tokenizer: Tokenizer, how: str) -> Attribution:
    get_option("aggregate").validate(how)  # the option's one rule (attribute() has checked it already)
    if how == "token":
        return res
    groups = word_groups(res.prompt, res.source_tokens, tokenizer)
    words = [_merge([res.source_tokens[i] for i in group], res.prompt) for group in groups]
    scores = merge_columns(res.scores, groups, len(res.source_tokens))
    equal = res.baseline_equal
    if equal.size:
        merged = np.array([bool(equal[group].all()) for group in groups], dtype=bool)
        equal = np.concatenate([merged, equal[len(res.source_tokens) :]])
    return dataclasses.replace(
        res, source_tokens=words, scores=scores, baseline_equal=equal, options={**res.options, "aggregate": "word"}
    )


def rows_in(
    how: str, prompt: str, sources: list[Token], tokenizer: Tokenizer
) -> tuple[list[Token], Callable[[np.ndarray], np.ndarray]]:
    """The source tokens and a function from token-level score rows ``[k, S + T]`` to rows as
    :func:`aggregate` gives them: for rows that are streamed before the whole result exists."""
    if how == "token":
        return sources, lambda rows: rows.astype(np.float32)
    groups = word_groups(prompt, sources, tokenizer)
    words = [_merge([sources[i] for i in group], prompt) for group in groups]
    return words, lambda rows: merge_columns(rows, groups, len(sources))


def merge_columns(scores: np.ndarray, groups: list[list[int]], n_sources: int) -> np.ndarray:
    """Source columns summed per word group; target columns as they are (float32)."""
    source_columns = np.stack([scores[:, group].sum(axis=1) for group in groups], axis=1)
    return np.concatenate([source_columns, scores[:, n_sources:]], axis=1).astype(np.float32)


def word_groups(prompt: str, sources: list[Token], tokenizer: Tokenizer) -> list[list[int]]:
    """Consecutive source-token indices that belong to the same word; each special token alone."""
    enc = tokenizer(prompt, add_special_tokens=False)
    word_ids = [w for w in enc.word_ids()]
    groups: list[list[int]] = []
    previous = None
    k = 0  # index into the prompt's own (non-special) tokens
    for i, token in enumerate(sources):
        if token.special:
            groups.append([i])
            previous = None
            continue
        word = word_ids[k] if k < len(word_ids) else None
        k += 1
        if groups and word is not None and word == previous:
            groups[-1].append(i)
        else:
            groups.append([i])
        previous = word
    return groups


def _merge(tokens: list[Token], prompt: str) -> Token:
    if len(tokens) == 1:
        return tokens[0]
    start = min(t.start for t in tokens if t.start is not None)
    end = max(t.end for t in tokens if t.end is not None)
    return Token(prompt[start:end], tokens[0].id, start, end, False)
