"""The packages' shape: no import cycles (type-only imports included) in
jupyters3 or jupyters3_testing, and JupyterS3 inherits only jupyter_server's
classes (it holds a store instead)."""

from __future__ import annotations

import ast
import pathlib

import pytest

import jupyters3
import jupyters3_testing
from jupyters3 import JupyterS3

PACKAGE = pathlib.Path(jupyters3.__file__).parent
TESTING = pathlib.Path(jupyters3_testing.__file__).parent


def _module_name(path: pathlib.Path, package: pathlib.Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of package ``root`` it imports, anywhere in its source."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("root", "edge"),
    [
        (PACKAGE, ("jupyters3.manager", "jupyters3.store")),
        (TESTING, ("jupyters3_testing.proxy", "jupyters3_testing._relay")),
    ],
    ids=["jupyters3", "jupyters3_testing"],
)
def test_no_module_imports_itself_back(root: pathlib.Path, edge: tuple[str, str]) -> None:
    graph = import_graph(root)
    assert edge[1] in graph[edge[0]]  # the graph is read at all
    # The package root re-exports the public names: leave it out (nothing imports it back).
    inner = {
        m: {t for t in targets if t != root.name} for m, targets in graph.items() if m != root.name
    }
    assert cycles(inner) == []


def test_jupyters3_inherits_only_jupyter_servers_classes() -> None:
    ours = [c for c in JupyterS3.__mro__[1:] if c.__module__.startswith("jupyters3")]
    assert ours == []
