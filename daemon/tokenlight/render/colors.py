"""Colour and layout logic shared by the terminal and HTML renderers (numpy only, no torch).

Colours are *relative*: a score is mapped onto a diverging palette by dividing by one scale
(the largest |score| on show), so the strongest token is always fully saturated. Numbers printed
next to the colours stay raw, so two results can still be compared by their numbers.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..engine.result import Attribution

RGB = tuple[int, int, int]

# ColorBrewer's blue-orange pair (the blue arm of RdBu, the orange arm of PuOr): both arms stay
# distinguishable under deuteranopia and protanopia, unlike red/green.
NEUTRAL: RGB = (247, 247, 247)
NAN_GREY: RGB = (190, 190, 190)
_NEGATIVE_STOPS: tuple[RGB, ...] = (NEUTRAL, (146, 197, 222), (33, 102, 172))
_POSITIVE_STOPS: tuple[RGB, ...] = (NEUTRAL, (253, 184, 99), (230, 97, 1))

BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)


def diverging_rgb(value: float, scale: float) -> RGB:
    """The background colour for ``value``: blue below 0, orange above, near-white at 0.

    Saturates at ``|value| >= scale``; NaN (no score: after the causal boundary) is a neutral grey
    so it is never mistaken for "zero". A non-positive or non-finite ``scale`` counts as 1.0.
    """
    v = float(value)
    if math.isnan(v):
        return NAN_GREY
    s = float(scale)
    if not math.isfinite(s) or s <= 0.0:
        s = 1.0
    t = min(abs(v) / s, 1.0)
    stops = _POSITIVE_STOPS if v > 0 else _NEGATIVE_STOPS
    return _interpolate(stops, t)


def _interpolate(stops: Sequence[RGB], t: float) -> RGB:
    """Piecewise-linear interpolation through evenly spaced colour stops, ``t`` in [0, 1]."""
    pos = t * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    frac = pos - i
    lo, hi = stops[i], stops[i + 1]
    r, g, b = (round(a + (c - a) * frac) for a, c in zip(lo, hi, strict=True))
    return (r, g, b)


def normalisation_scale(scores: np.ndarray | Sequence[float]) -> float:
    """The largest |finite score|, or 1.0 when there is none (or it is 0).

    One scale per view keeps colours comparable within the view; falling back to 1.0 keeps an
    all-zero or all-NaN result from dividing by zero.
    """
    a = np.asarray(scores, dtype=np.float64)
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return 1.0
    m = float(np.max(np.abs(finite)))
    return m if m > 0.0 else 1.0


def _linear(channel: int) -> float:
    c = channel / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(rgb: RGB) -> float:
    """WCAG relative luminance of an sRGB colour, in [0, 1]."""
    r, g, b = (_linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_rgb(background: RGB) -> RGB:
    """Black or white, whichever has the higher WCAG contrast on ``background``.

    Saturated blue needs white text; the light tints and orange read better in black.
    """
    lum = relative_luminance(background)
    on_black = (lum + 0.05) / 0.05
    on_white = 1.05 / (lum + 0.05)
    return BLACK if on_black >= on_white else WHITE


def rgb_hex(rgb: RGB) -> str:
    """``#rrggbb`` for CSS."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def summed_scores(rows: np.ndarray) -> np.ndarray:
    """Sum a ``[T, N]`` score matrix over its targets, ignoring NaN.

    A column that is NaN for every target stays NaN (it has no score at all) instead of becoming a
    misleading 0.
    """
    a = np.asarray(rows, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a [T, N] score matrix, got shape {a.shape}")
    total = np.nansum(a, axis=0)
    total[np.all(np.isnan(a), axis=0)] = np.nan
    return total


# ----------------------------------------------------------------------------------------------
# Text safety and layout, shared so both renderers show the same characters and the same pieces.

_BIDI_AND_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)


def visible_char(ch: str) -> str:
    """A safe, visible stand-in for a control character, or ``ch`` itself.

    C0 controls become their Unicode control pictures (ESC -> ␛, CR -> ␍) so a token can never
    drive the terminal; C1 controls and bidi/zero-width characters (which can reorder or hide
    text) become ``\\uXXXX``. Newline and tab are left to the caller.
    """
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    if 0x80 <= code <= 0x9F or ch in _BIDI_AND_INVISIBLE:
        return f"\\u{code:04x}"
    if unicodedata.category(ch) in ("Cc", "Cs"):
        return f"\\u{code:04x}"
    return ch


def sanitize(text: str, *, keep_newlines: bool = True, keep_tabs: bool = True) -> str:
    """``text`` with every control character other than ``\\n`` / ``\\t`` made visible."""
    out = []
    for ch in text:
        if (ch == "\n" and keep_newlines) or (ch == "\t" and keep_tabs):
            out.append(ch)
        elif ch == "\n":
            out.append("↵")
        elif ch == "\t":
            out.append("⇥")
        else:
            out.append(visible_char(ch))
    return "".join(out)


def token_label(text: str) -> str:
    """A one-line, unambiguous label for a token: its ``repr()`` (so ``"\\n"`` shows), sanitised."""
    return sanitize(repr(text), keep_newlines=False, keep_tabs=False)


@dataclass(frozen=True)
class Piece:
    """A run of prompt text to show: one token, several tokens sharing one span, or a gap.

    Attributes:
        text (str): what to show (the token's text, its spelling for a special token, or prompt
            text that no token covers).
        indices (tuple[int, ...]): the source-token positions it stands for; empty for a gap.
        special (bool): a special token (BOS, ...) with no span in the prompt.
    """

    text: str
    indices: tuple[int, ...]
    special: bool = False

    @property
    def is_gap(self) -> bool:
        return not self.indices


def prompt_pieces(prompt: str, tokens: Sequence) -> list[Piece]:
    """Split the prompt into pieces to colour, in token order.

    Byte pieces of one multi-byte character all carry the whole character with the same span, so
    tokens with the same span as the previous one are merged into one piece (shown once, scored
    as their sum). Prompt text that no token covers is kept as an uncoloured gap.
    """
    pieces: list[Piece] = []
    cursor = 0
    last_span: tuple[int, int] | None = None
    for i, tok in enumerate(tokens):
        if tok.start is None or tok.end is None:
            pieces.append(Piece(tok.text, (i,), special=True))
            last_span = None
            continue
        span = (tok.start, tok.end)
        if span == last_span and pieces and not pieces[-1].is_gap:
            prev = pieces[-1]
            pieces[-1] = Piece(prev.text, (*prev.indices, i))
            continue
        if tok.start > cursor:
            gap = prompt[cursor : tok.start]
            if gap:
                pieces.append(Piece(gap, ()))
        pieces.append(Piece(tok.text, (i,)))
        cursor = max(cursor, tok.end)
        last_span = span
    if cursor < len(prompt):
        pieces.append(Piece(prompt[cursor:], ()))
    return pieces


def piece_score(piece: Piece, scores: np.ndarray) -> float:
    """The score of a piece: the NaN-ignoring sum over its tokens (NaN for a gap or all-NaN)."""
    if piece.is_gap:
        return math.nan
    vals = np.asarray([scores[i] for i in piece.indices], dtype=np.float64)
    if np.all(np.isnan(vals)):
        return math.nan
    return float(np.nansum(vals))


def format_score(value: float | None, *, signed: bool = True) -> str:
    """A compact raw number: 4 significant digits, ``–`` for None, ``nan`` for NaN."""
    if value is None:
        return "–"
    v = float(value)
    if math.isnan(v):
        return "nan"
    return f"{v:+.4g}" if signed else f"{v:.4g}"


def top_contributions(row: np.ndarray, k: int = 3) -> list[int]:
    """Column indices of the ``k`` largest |finite| entries of ``row``, largest first."""
    a = np.asarray(row, dtype=np.float64)
    idx = np.flatnonzero(np.isfinite(a))
    order = idx[np.argsort(-np.abs(a[idx]), kind="stable")]
    return [int(i) for i in order[:k]]


def delta_flagged(res: Attribution, k: int) -> bool:
    """True when the engine marked target ``k`` as not converged (``Attribution.converged``: the
    method's own rule, owned by the engine). Only path methods, whose delta is measured against
    f(x) − f(x′), are flagged; LRP's delta (against f(x)) is explained by its note instead."""
    if res.converged is None or res.baseline_scores is None:
        return False
    return not bool(res.converged[k])
