"""Showing token text and numbers safely in hovers and tooltips.

A token is arbitrary text: ``<script>``, a backtick, ``**``, a pipe that would end a table cell,
a bare newline. Every ASCII punctuation character is backslash-escaped (CommonMark renders any
escaped punctuation literally, GFM tables included) and whitespace is made visible, so a token is
always shown as itself and never as markup.
"""

from __future__ import annotations

import math
import string

_PUNCTUATION = frozenset(string.punctuation)
_VISIBLE = {"\n": "↵", "\r": "␍", "\t": "⇥", " ": "·"}


def visible(text: str) -> str:
    """Whitespace made visible (a token " self" reads "·self"); an empty byte piece reads "◦"."""
    if text == "":
        return "◦"
    return "".join(_VISIBLE.get(ch, ch) for ch in text)


def escape(text: str) -> str:
    """Markdown-escape ``text``: every ASCII punctuation character gets a backslash."""
    return "".join("\\" + ch if ch in _PUNCTUATION else ch for ch in text)


def token(text: str) -> str:
    """A token as markdown: visible whitespace, escaped."""
    return escape(visible(text))


def number(value: float | None) -> str:
    """A raw score: six significant digits, "—" where there is none (the causal boundary)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.6g}"


def percent(part: float, whole: float) -> str:
    if whole == 0:
        return "n/a"
    return f"{100 * abs(part) / abs(whole):.0f}%"
