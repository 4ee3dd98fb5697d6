"""Stored results per document, kept in step with edits.

A result is anchored to code-point offsets in its document: the selection (the prompt) and, for
``following`` targets, the document text that was force-decoded after it. An edit before the
anchor moves it; an edit that touches the anchored text drops the result (its scores explain text
that no longer exists), and with it its inlay hints and diagnostics. Requests still running hold an
anchor too, so that a selection edited mid-computation is noticed when the result arrives.

Only the event loop uses this module (no locks, no engine imports).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from .results import ResultData, TokenData


@dataclass(eq=False)
class Anchor:
    """Where a result sits: ``[start, prompt_end)`` is the selection, ``[prompt_end, end)`` the
    attributed following text (empty unless the targets are ``following``)."""

    uri: str
    start: int
    prompt_end: int
    end: int
    alive: bool = True

    def apply_edit(self, start: int, end: int, new_length: int) -> bool:
        """Follow the edit replacing ``[start, end)`` by ``new_length`` code points; False (and
        dead) when it touches the anchored text. An insertion exactly at the anchor's start moves
        it; one at its end leaves it (a ghost-text continuation stays put)."""
        if not self.alive:
            return False
        if start < self.end and end > self.start:
            self.alive = False
            return False
        if end <= self.start:
            shift = new_length - (end - start)
            self.start += shift
            self.prompt_end += shift
            self.end += shift
        return True

    def overlaps(self, other: Anchor) -> bool:
        if self.start == self.end or other.start == other.end:
            return self.start == other.start and self.prompt_end == other.prompt_end
        return self.start < other.end and other.start < self.end


@dataclass(eq=False)
class StoredResult:
    id: str
    anchor: Anchor
    data: ResultData
    kind: str  # the request's target kind: "generate", "text" or "following"
    focus: int | None = None  # the target hover refers to; None: the sum over all targets

    @property
    def following(self) -> bool:
        """True when the targets are document text (they have ranges and hovers, no ghost text)."""
        return self.kind == "following"


@dataclass(frozen=True)
class TokenHit:
    result: StoredResult
    side: Literal["source", "target"]
    index: int
    siblings: tuple[int, ...]  # every token of that side whose span holds the position (byte pieces)


class ResultStore:
    """Results by document and by id; anchors of requests still running."""

    def __init__(self) -> None:
        self._results: dict[str, list[StoredResult]] = {}
        self._pending: dict[str, list[Anchor]] = {}
        self._ids = itertools.count(1)

    def reserve(self, uri: str, start: int, end: int) -> Anchor:
        """Track a selection while its attribution runs."""
        anchor = Anchor(uri, start, end, end)
        self._pending.setdefault(uri, []).append(anchor)
        return anchor

    def release(self, anchor: Anchor) -> None:
        pending = self._pending.get(anchor.uri, [])
        if anchor in pending:
            pending.remove(anchor)
        if not pending:
            self._pending.pop(anchor.uri, None)

    def add(self, anchor: Anchor, data: ResultData, kind: str) -> tuple[StoredResult, list[StoredResult]]:
        """Store a finished result; results it overlaps are replaced (and returned)."""
        results = self._results.setdefault(anchor.uri, [])
        replaced = [r for r in results if r.anchor.overlaps(anchor)]
        stored = StoredResult(f"r{next(self._ids)}", anchor, data, kind)
        self._results[anchor.uri] = [r for r in results if r not in replaced] + [stored]
        return stored, replaced

    def get(self, result_id: str) -> StoredResult | None:
        for results in self._results.values():
            for result in results:
                if result.id == result_id:
                    return result
        return None

    def results(self, uri: str) -> list[StoredResult]:
        return list(self._results.get(uri, ()))

    def has_results(self, uri: str) -> bool:
        return bool(self._results.get(uri))

    def apply_edit(self, uri: str, start: int, end: int, new_length: int) -> list[StoredResult]:
        """Move or drop the document's anchors for one edit; returns the dropped results."""
        for anchor in self._pending.get(uri, ()):
            anchor.apply_edit(start, end, new_length)
        kept: list[StoredResult] = []
        dropped: list[StoredResult] = []
        for result in self._results.get(uri, ()):
            (kept if result.anchor.apply_edit(start, end, new_length) else dropped).append(result)
        if uri in self._results:
            self._results[uri] = kept
        return dropped

    def clear(self, uri: str) -> list[StoredResult]:
        """Drop every result of a document (returned); its requests still running go on."""
        return self._results.pop(uri, [])

    def close(self, uri: str) -> list[StoredResult]:
        """The document was closed or opened again: drop its results (returned), and mark the
        selections of its requests still running dead, so that their answers are ContentModified
        rather than stored in a document that starts without results."""
        for anchor in self._pending.get(uri, ()):
            anchor.alive = False
        return self.clear(uri)

    def clear_all(self) -> None:
        self._results.clear()
        self._pending.clear()

    def token_at(self, uri: str, offset: int) -> TokenHit | None:
        """The token whose document text holds ``offset`` (newest result first): a source token of
        any result, or a target token of a ``following`` result."""
        for result in reversed(self._results.get(uri, ())):
            data, anchor = result.data, result.anchor
            sides: list[tuple[Literal["source", "target"], int, list[TokenData]]] = [
                ("source", anchor.start, data.source_tokens)
            ]
            if result.following:
                sides.append(("target", anchor.prompt_end, data.target_tokens))
            for side, base, tokens in sides:
                hits = tuple(
                    i
                    for i, t in enumerate(tokens)
                    if t.start is not None and t.end is not None and base + t.start <= offset < base + t.end
                )
                if hits:
                    return TokenHit(result, side, hits[0], hits)
        return None
