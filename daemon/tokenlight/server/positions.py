"""LSP positions <-> code-point offsets, in the negotiated position encoding.

The engine speaks Python string offsets (code points); LSP speaks (line, character) where a
character is a UTF-16 code unit by default (an emoji is 2, a CJK character 1) or a UTF-8 / UTF-32
unit when the client offered that first. pygls' document codec counts the units; this module adds
the line table once per document snapshot (a result has hundreds of tokens to place) and strict
validation, because a range outside the document must be an error, not silently clamped.

Lines are the document's own ``lines``, so offsets here and the document pygls keeps (and edits)
always agree. They are split as LSP splits them, at ``\n``, ``\r\n`` and ``\r`` only: pygls splits
with ``str.splitlines``, which also breaks at form feeds (common in Python sources), vertical tabs,
``\x1c``-``\x1e``, NEL, U+2028 and U+2029, where the editor sees no line break; every position after
one would then name the wrong line, and incremental edits would land on the wrong text.
:class:`LspLinesWorkspace` gives the server documents that split correctly.

LSP cannot name the place between the ``\r`` and the ``\n`` of a CRLF (a position's character never
exceeds its line's length). A token boundary there (byte-level tokenizers often make ``\r`` and
``\n`` two tokens) is placed at the end of the line's text, before the ``\r``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace
from pygls.workspace.position_codec import PositionCodec

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def lsp_lines(text: str) -> tuple[str, ...]:
    """``text`` split after each LSP line break (``\n``, ``\r\n``, ``\r``), keeping the breaks:
    like ``str.splitlines(keepends=True)`` but blind to the other characters Python breaks at."""
    return tuple(_LINE.findall(text))


class LspLinesDocument(TextDocument):
    """A pygls document whose ``lines`` are LSP's, and whose incremental edits land where LSP says.

    pygls reads a position past the end of its line (LSP: the line's end) one character early, or
    after the line break, or between the ``\\r`` and ``\\n`` of a CRLF (a new line the editor does
    not have); a reversed range loses its text. Here an edit replaces exactly the span
    :meth:`TextIndex.clamped_offset` gives, the span the stored results were moved for.
    """

    @property
    def lines(self) -> Sequence[str]:
        return lsp_lines(self.source)

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        index = TextIndex(self)
        start, end = index.clamped_offset(change.range.start), index.clamped_offset(change.range.end)
        start, end = min(start, end), max(start, end)
        self._source = index.source[:start] + change.text + index.source[end:]


class LspLinesWorkspace(Workspace):
    """A pygls workspace whose documents split lines as LSP does."""

    @classmethod
    def like(cls, other: Workspace) -> LspLinesWorkspace:
        """A fresh (empty) workspace with ``other``'s root, sync kind, folders and encoding."""
        return cls(
            other.root_uri,
            other._sync_kind,
            list(other.folders.values()),
            other.position_encoding,
        )

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        kwargs: dict[str, Any] = {"source": source, "version": version, "language_id": language_id}
        return LspLinesDocument(doc_uri, sync_kind=self._sync_kind, position_codec=self.position_codec, **kwargs)


class PositionError(ValueError):
    """A position the document does not have; the message names the document's real extent."""


class TextIndex:
    """One snapshot of a document's text, for converting many positions and offsets."""

    def __init__(self, document: TextDocument) -> None:
        self.source: str = document.source
        self.lines: Sequence[str] = lsp_lines(self.source)
        self.codec: PositionCodec = document.position_codec
        self.line_starts: list[int] = []
        total = 0
        for line in self.lines:
            self.line_starts.append(total)
            total += len(line)

    @property
    def encoding(self) -> str:
        return str(self.codec.encoding)

    def offset(self, position: types.Position) -> int:
        """The code-point offset of ``position``; :class:`PositionError` when it lies outside.

        A position inside a character (half of a surrogate pair in UTF-16) moves to the character's
        end, as pygls does; the end of the document is (last line, its length) or, after a final
        line break, (number of lines, 0).
        """
        n_lines = len(self.lines)
        if position.line > n_lines or (position.line == n_lines and position.character > 0):
            raise PositionError(
                f"line {position.line}, character {position.character} is past the end of the document "
                f"({n_lines} line{'s' if n_lines != 1 else ''})"
            )
        if position.line == n_lines:
            return len(self.source)
        line = self.lines[position.line]
        content = line.rstrip("\r\n")
        units = self.codec.client_num_units(content)
        if position.character > units:
            raise PositionError(
                f"line {position.line} has {units} character{'s' if units != 1 else ''} "
                f"({self.encoding} code units); character {position.character} is past its end"
            )
        column = 0
        seen = 0
        for char in content:
            if seen >= position.character:
                break
            seen += self.codec.impl.code_units_for_char(char)
            column += 1
        return self.line_starts[position.line] + column

    def clamped_offset(self, position: types.Position) -> int:
        """Like :meth:`offset` but past-the-end positions clamp to the end of their line / the
        document: for edits, which the client has already applied and we must follow."""
        try:
            return self.offset(position)
        except PositionError:
            if position.line >= len(self.lines):
                return len(self.source)
            line = self.lines[position.line]
            return self.line_starts[position.line] + len(line.rstrip("\r\n"))

    def position(self, offset: int) -> types.Position:
        """The LSP position of a code-point offset (``0 <= offset <= len(source)``); an offset
        between the ``\r`` and ``\n`` of a CRLF is placed at the end of the line's text."""
        if not self.lines:
            return types.Position(line=0, character=0)
        line_no = max(0, bisect_right(self.line_starts, offset) - 1)
        column = offset - self.line_starts[line_no]
        line = self.lines[line_no]
        if column >= len(line) and line_no == len(self.lines) - 1 and line.endswith(("\n", "\r")):
            return types.Position(line=line_no + 1, character=0)
        content = line.rstrip("\r\n")
        return types.Position(line=line_no, character=self.codec.client_num_units(content[:column]))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(end))

    def selection(self, rng: types.Range) -> tuple[int, int]:
        """(start, end) offsets of a selection; :class:`PositionError` if outside or reversed."""
        start, end = self.offset(rng.start), self.offset(rng.end)
        if (rng.end.line, rng.end.character) < (rng.start.line, rng.start.character):
            raise PositionError(
                f"the range ends (line {rng.end.line}, character {rng.end.character}) before it starts "
                f"(line {rng.start.line}, character {rng.start.character}): swap start and end"
            )
        return start, end
