"""Every Python snippet in README.md and docs/ runs as written (so that none can rot): each one in
a fresh namespace, with nothing imported for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_snippets() -> list[tuple[str, str]]:
    """(``file:line``, code) of every fenced ``python`` block in the documents."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


SNIPPETS = python_snippets()


def test_the_readme_has_python_snippets():
    assert any(where.startswith("README.md:") for where, _ in SNIPPETS)


@pytest.mark.parametrize(("where", "code"), SNIPPETS, ids=[where for where, _ in SNIPPETS])
def test_snippet_runs_as_written(where, code):
    exec(compile(code, where, "exec"), {"__name__": "__readme__"})
