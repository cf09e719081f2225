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


#: The store, and the layers below it that it hands its client to.
_S3_DOOR = {"jupyters3.store", "jupyters3.tree", "jupyters3.streamcopy"}
#: ``jupyters3 check`` tries the S3 client itself, on purpose; ``startup`` makes it.
_CLIENT_USERS = {"jupyters3.check_steps", "jupyters3.check_mounts", "jupyters3.startup"}


def _sources() -> dict[str, ast.Module]:
    return {_module_name(p, PACKAGE): ast.parse(p.read_text()) for p in PACKAGE.rglob("*.py")}


def _above_the_store(name: str) -> bool:
    return not name.startswith("jupyters3.s3") and name not in _S3_DOOR


def test_no_module_above_the_store_touches_the_s3_client() -> None:
    """The store is the contents layer's only door to S3: nothing above it
    reaches for a store's ``client`` (or makes one of its own), so a hook on
    the store (a listing cache, a working-folder sync) sees every request."""
    found = []
    for name, tree in _sources().items():
        if not _above_the_store(name) or name in _CLIENT_USERS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("client", "new_client"):
                found.append(f"{name}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.ImportFrom) and any(a.name == "S3Client" for a in node.names):
                found.append(f"{name}:{node.lineno}: imports S3Client")
    assert found == []


def test_the_check_on_the_client_finds_a_use() -> None:
    """The scan above sees a use where there is one (``jupyters3 check``'s)."""
    uses = [
        node
        for node in ast.walk(_sources()["jupyters3.check_steps"])
        if isinstance(node, ast.ImportFrom) and any(a.name == "S3Client" for a in node.names)
    ]
    assert uses


@pytest.mark.parametrize(
    "name", ["jupyters3.store", "jupyters3.writes", "jupyters3.mounts", "jupyters3.contents_errors"]
)
def test_the_domain_modules_do_not_import_tornado(name: str) -> None:
    """Their errors are plain exceptions: HTTP is http_errors' business."""
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(_sources()[name])
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not {m for m in imported if m.split(".")[0] == "tornado"}
