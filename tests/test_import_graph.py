"""The import graph of ``daemon/tokenlight``, read from the source with ``ast`` (nothing is imported).

Three rules a reader cannot see in any one file:

- no import cycle, counting imports inside functions and under ``if TYPE_CHECKING:`` too: a lazy or
  type-only import is still a dependency, and a circle through one means neither module can be
  understood, or moved, without the other (the circles this test was written for were of that kind:
  engine -> cache -> engine through a lazy import, documents -> runner -> protocol -> documents
  through a type-only one);
- the engine never imports upward: nothing of ``tokenlight`` outside ``engine/`` except the neutral
  modules of :data:`ENGINE_MAY_IMPORT` (which import nothing of ours), and never pygls or lsprotocol
  (the engine is a library without the server);
- importing any ``server/`` module runs no torch, transformers or captum import, following
  module-level imports through every module and package ``__init__`` they run, so that the daemon
  answers ``initialize`` before the engine is imported (the runner imports it inside functions).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

import tokenlight

ROOT = Path(tokenlight.__file__).resolve().parent
HEAVY = ("torch", "transformers", "captum")
ENGINE_MAY_IMPORT = ("tokenlight.paths", "tokenlight.version", "tokenlight.embedded")  # neutral: import nothing of ours
NOT_IN_ENGINE = ("pygls", "lsprotocol")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module, dotted (a package means its __init__)
    line: int
    eager: bool  # runs when ``source`` is imported (module level, class bodies, module-level try/if)
    type_only: bool  # under ``if TYPE_CHECKING:``


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the package at ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


class _Collector(ast.NodeVisitor):
    """Every import statement of one module, with where it sits (function body, TYPE_CHECKING)."""

    def __init__(self, module: str, is_package: bool, known: set[str]) -> None:
        self.module, self.known = module, known
        self.package = module if is_package else module.rpartition(".")[0]
        self.found: list[Import] = []
        self._depth = 0  # nesting in function bodies
        self._type_only = 0  # nesting in `if TYPE_CHECKING:` bodies

    def _add(self, target: str, node: ast.stmt) -> None:
        self.found.append(Import(self.module, target, node.lineno, self._depth == 0, self._type_only > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in self.known]
        if len(submodules) < len(node.names):  # a name defined in the package's __init__
            self._add(target, node)
        for submodule in submodules:  # `from . import protocol` imports the submodule protocol
            self._add(submodule, node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            self._type_only += 1
            for child in node.body:
                self.visit(child)
            self._type_only -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)


def build_graph(root: Path) -> list[Import]:
    """Every import of every module of the package at ``root``."""
    names = module_names(root)
    known = set(names)
    found: list[Import] = []
    for name, path in names.items():
        collector = _Collector(name, path.name == "__init__.py", known)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += collector.found
    return found


def find_cycles(imports: Iterable[Import], modules: Iterable[str]) -> list[list[str]]:
    """One cycle (``a -> b -> ... -> a``) per strongly connected group of modules that import each
    other (at module or function level, or for the type checker only)."""
    nodes = set(modules)
    edges: dict[str, set[str]] = {n: set() for n in nodes}
    for imp in imports:
        if imp.target in nodes and imp.target != imp.source:
            edges[imp.source].add(imp.target)
    cycles = []
    for group in _strongly_connected(edges):
        if len(group) > 1:
            cycles.append(_cycle_through(min(group), edges, group))
    return sorted(cycles)


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the graph is small, but recursion depth is not ours to spend)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def _cycle_through(start: str, edges: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node] & group):
                if child == start:
                    return [*paths[node], start]
                if child not in paths:
                    paths[child] = [*paths[node], child]
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in a strongly connected group without a cycle back to it")


def eager_closure(module: str, imports: list[Import], known: set[str]) -> dict[str, list[str]]:
    """Every module (ours or not) that importing ``module`` runs, each with the chain that runs it.

    Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so parent packages count.
    """
    eager: dict[str, list[Import]] = {}
    for imp in imports:
        if imp.eager and not imp.type_only:
            eager.setdefault(imp.source, []).append(imp)
    chains = {module: [module]}
    frontier = [module]
    while frontier:
        node = frontier.pop()
        steps = [(parent, "(its package)") for parent in _parents(node)]
        steps += [(imp.target, f"(line {imp.line})") for imp in eager.get(node, ())]
        for target, why in steps:
            for reached in [*_parents(target), target]:
                if reached not in chains:
                    chains[reached] = [*chains[node], f"{why} -> {reached}"]
                    if reached in known:
                        frontier.append(reached)
    return chains


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _top(module: str) -> str:
    return module.split(".", 1)[0]


# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> tuple[list[Import], set[str]]:
    return build_graph(ROOT), set(module_names(ROOT))


def test_the_graph_is_read_from_this_checkout(graph):
    imports, modules = graph
    assert {"tokenlight.server.app", "tokenlight.engine.models", "tokenlight.cache"} <= modules
    # a relative import resolved, a function-level one seen as lazy, a TYPE_CHECKING one as type-only
    runner = {(i.target, i.eager, i.type_only) for i in imports if i.source == "tokenlight.server.runner"}
    assert ("tokenlight.engine", False, False) in runner
    assert ("tokenlight.engine", True, True) in runner


def test_no_import_cycle(graph):
    imports, modules = graph
    cycles = find_cycles(imports, modules)
    assert not cycles, "import cycles (function-level and TYPE_CHECKING imports count):\n" + "\n".join(
        " -> ".join(c) for c in cycles
    )


def test_the_engine_imports_nothing_above_it(graph):
    imports, _ = graph
    wrong = [
        f"{i.source} line {i.line} imports {i.target}"
        for i in imports
        if i.source.startswith("tokenlight.engine")
        and (
            (
                _top(i.target) == "tokenlight"
                and i.target != "tokenlight.engine"
                and not i.target.startswith("tokenlight.engine.")
                and i.target not in ENGINE_MAY_IMPORT
            )
            or _top(i.target) in NOT_IN_ENGINE
        )
    ]
    assert not wrong, "the engine imports upward or the server's libraries:\n" + "\n".join(wrong)


def test_the_neutral_modules_import_nothing_of_ours(graph):
    imports, _ = graph
    wrong = [f"{i.source} line {i.line} imports {i.target}" for i in imports if i.source in ENGINE_MAY_IMPORT]
    wrong = [w for w in wrong if " imports tokenlight" in w]
    assert not wrong, "a module the engine may import must import nothing of Tokenlight:\n" + "\n".join(wrong)


def test_importing_the_server_imports_no_engine_library(graph):
    imports, modules = graph
    wrong = []
    for module in sorted(m for m in modules if m == "tokenlight.server" or m.startswith("tokenlight.server.")):
        for reached, chain in eager_closure(module, imports, modules).items():
            if _top(reached) in HEAVY and "." not in reached:
                wrong.append(" ".join(chain))
    assert not wrong, "a server module imports an engine library at import time:\n" + "\n".join(wrong)


def test_a_cycle_through_a_function_level_relative_import_is_named(tmp_path):
    """The checker on a package made for it: one cycle goes through a lazy ``from .sub import``, the
    other through ``from .. import`` and a TYPE_CHECKING import; e -> c is no cycle."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n    return b\n")
    (pkg / "sub" / "b.py").write_text("from ..a import f\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import d\n")
    (pkg / "e.py").write_text("from .c import TYPE_CHECKING\n")
    (pkg / "sub" / "d.py").write_text("from .. import c\n")
    imports = build_graph(pkg)
    assert find_cycles(imports, module_names(pkg)) == [["pkg.a", "pkg.sub.b", "pkg.a"], ["pkg.c", "pkg.sub.d", "pkg.c"]]


def test_a_heavy_import_behind_a_package_init_is_found(tmp_path):
    """``from .lib.x import y`` runs ``lib/__init__`` first; an import of torch there counts."""
    pkg = tmp_path / "pkg"
    (pkg / "lib").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lib" / "__init__.py").write_text("import torch\n")
    (pkg / "lib" / "x.py").write_text("y = 1\n")
    (pkg / "light.py").write_text("def later():\n    import torch\n")
    (pkg / "heavy.py").write_text("from .lib.x import y\n")
    imports, known = build_graph(pkg), set(module_names(pkg))
    assert "torch" not in eager_closure("pkg.light", imports, known)
    assert eager_closure("pkg.heavy", imports, known)["torch"] == [
        "pkg.heavy",
        "(line 1) -> pkg.lib",
        "(line 1) -> torch",
    ]
