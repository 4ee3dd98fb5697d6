"""Symbols (functions, classes, methods) of a text, as line ranges, and the partition of lines they
induce.

Python's ``ast`` gives the symbols of Python text; an editor gives its document symbols for other
languages (:func:`client_symbols`). A context usually ends inside the statement being written (the
selection is where the model continues), so a text whose only syntax error is in its last top-level
statement is parsed without that statement, which then becomes one symbol of its own when its first
line opens a ``def`` or ``class``. Any other syntax error means "not Python as far as ast can tell",
and the caller falls back to blocks with a note.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

_BREAK = re.compile(r"\r\n|\r|\n")
_HEADER = re.compile(r"^\s*(?:async\s+def|def|class)\s+([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Symbol:
    """Lines ``first..last`` (0-based, inclusive) of the text; ``kind`` function, method or class."""

    first: int
    last: int
    kind: str
    label: str


class NotParsable(Exception):
    """The text is not Python ``ast`` can parse (the message names the line)."""


def python_symbols(text: str) -> list[Symbol]:
    """Every function, class and method of ``text`` (nested ones included), outermost first."""
    lines = split_lines(text)
    try:
        return _walk(ast.parse(text))
    except (SyntaxError, ValueError) as first_error:
        error = first_error
    # the context ends inside its last statement: parse without it, then label it by its header
    starts = [i for i, line in enumerate(lines) if line.strip() and not line[0].isspace() and line[0] != "#"]
    error_line = (getattr(error, "lineno", None) or 1) - 1
    if starts and error_line >= starts[-1]:
        cut = starts[-1]
        try:
            tree = ast.parse("\n".join(lines[:cut]))
        except (SyntaxError, ValueError):
            tree = None
        if tree is not None:
            symbols = _walk(tree)
            header = _HEADER.match(lines[cut])
            if header:
                kind = "class" if lines[cut].lstrip().startswith("class") else "function"
                symbols.append(Symbol(cut, len(lines) - 1, kind, f"{_keyword(kind)} {header.group(1)}"))
            return symbols
    line = getattr(error, "lineno", None)
    raise NotParsable(f"a syntax error at line {line}" if line else str(error)) from None


def client_symbols(text: str, symbols: Sequence[dict[str, object]]) -> list[Symbol]:
    """An editor's document symbols (``{start, end, kind, name}``, code points into ``text``) as
    line ranges. A symbol that ends at the start of a line does not cover that line."""
    starts = line_starts(text)
    out = []
    for s in symbols:
        start, end = int(str(s["start"])), int(str(s["end"]))
        first = line_of(starts, start)
        last = max(first, line_of(starts, max(start, end - 1)))
        out.append(Symbol(first, last, str(s.get("kind") or "symbol"), str(s.get("name") or "symbol")))
    return out


def partition(n_lines: int, symbols: Sequence[Symbol]) -> list[tuple[int, int, Symbol | None]]:
    """Lines ``0..n_lines-1`` cut into runs that share their innermost symbol (None: no symbol).

    Nested symbols tile their parent: a class's lines between its methods form runs of the class.
    """
    owner: list[Symbol | None] = [None] * n_lines
    # outermost first, so an inner symbol overwrites its parent's lines
    for s in sorted(symbols, key=lambda s: (s.first, -s.last)):
        for line in range(max(0, s.first), min(n_lines - 1, s.last) + 1):
            owner[line] = s
    runs: list[tuple[int, int, Symbol | None]] = []
    for line, here in enumerate(owner):
        if runs and runs[-1][2] is here:
            runs[-1] = (runs[-1][0], line, here)
        else:
            runs.append((line, line, here))
    return runs


def blocks(lines: Sequence[str], first: int = 0, last: int | None = None) -> list[tuple[int, int]]:
    """Lines ``first..last`` cut into blocks: a block starts at a non-blank line after a blank one, or
    at a top-level line after an indented one (a top-level statement and its body are one block);
    blank lines stay with the block before them."""
    last = len(lines) - 1 if last is None else last
    out: list[tuple[int, int]] = []
    previous_blank, previous_indent = True, 0
    for i in range(first, last + 1):
        line = lines[i]
        blank = not line.strip()
        indent = len(line) - len(line.lstrip())
        starts = not blank and (previous_blank or (indent == 0 and previous_indent > 0))
        if not out or (starts and _has_text(lines, out[-1])):
            out.append((i, i))
        else:  # leading blank lines join the first block that has text
            out[-1] = (out[-1][0], i)
        previous_blank = blank
        if not blank:
            previous_indent = indent
    return out


def split_lines(text: str) -> list[str]:
    """``text``'s lines without their breaks, broken where LSP breaks them: at ``\n``, ``\r\n`` and a
    lone ``\r`` (not ``str.splitlines``, which also breaks at form feeds and other characters an
    editor shows inside a line). ``n`` breaks give ``n + 1`` lines, like ``str.split("\n")``."""
    return _BREAK.split(text)


def line_starts(text: str) -> list[int]:
    """Code-point offset of each line's first character (lines as :func:`split_lines` breaks them)."""
    return [0, *(m.end() for m in _BREAK.finditer(text))]


def line_of(starts: Sequence[int], offset: int) -> int:
    """The 0-based line holding code point ``offset``."""
    import bisect

    return max(0, bisect.bisect_right(starts, offset) - 1)


def _has_text(lines: Sequence[str], block: tuple[int, int]) -> bool:
    return any(lines[i].strip() for i in range(block[0], block[1] + 1))


def _keyword(kind: str) -> str:
    return "class" if kind == "class" else "def"


def _walk(tree: ast.AST) -> list[Symbol]:
    out: list[Symbol] = []

    def visit(node: ast.AST, owner: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)]) - 1
                last = (child.end_lineno or child.lineno) - 1
                is_class = isinstance(child, ast.ClassDef)
                kind = "class" if is_class else ("method" if owner is not None else "function")
                name = child.name if owner is None else f"{owner}.{child.name}"
                out.append(Symbol(first, last, kind, f"{_keyword(kind)} {name}"))
                visit(child, name if is_class else None)
            else:
                visit(child, owner)

    visit(tree, None)
    return out
