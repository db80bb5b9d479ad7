"""The import graph of `service/`, read from the source with `ast`: no cycles, no hidden imports.

A cycle closed by an import inside a function works until someone moves that import, and it
hides which module depends on which. So every import counts, at module level or in a function,
and imports inside functions are allowed only for third-party modules that are heavy or
optional (the PostgreSQL driver, uvicorn, redis), each with a comment saying why.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import service

PACKAGE = Path(service.__file__).resolve().parent
ROOT = PACKAGE.parent
REGISTRY = "service.capabilities"  # the one place that imports capability modules by name


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported, as written (absolute)
    line: int
    in_function: bool


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imports(name: str, path: Path, names: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(name, a.name, child.lineno, in_function)
                             for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: from the package, up level - 1
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                # `from a import b` imports the module a.b when there is one, else a
                targets = {f"{base}.{a.name}" if f"{base}.{a.name}" in names else base
                           for a in child.names}
                found.extend(Import(name, t, child.lineno, in_function) for t in sorted(targets))
            visit(child, in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return found


def graph() -> tuple[dict[str, set[str]], list[Import]]:
    """module -> service modules it imports; and every import found."""
    names = module_names()
    edges: dict[str, set[str]] = {name: set() for name in names}
    every: list[Import] = []
    for name, path in names.items():
        for imp in _imports(name, path, names):
            every.append(imp)
            if imp.target in names and imp.target != name:
                edges[name].add(imp.target)
    return edges, every


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return [_path_within(edges, group) for group in groups]


def _path_within(edges: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest cycle through the group's first module, staying inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v] & group):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return sorted(group)  # pragma: no cover (a strongly connected group always has a cycle)


def test_the_cycle_finder_names_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_service_modules():
    found = cycles(graph()[0])
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_service_module_is_imported_inside_a_function():
    hidden = [f"{i.module}:{i.line} imports {i.target}" for i in graph()[1]
              if i.in_function and i.target.split(".")[0] == "service"]
    assert not hidden, "move these to the top of their module:\n" + "\n".join(sorted(set(hidden)))


def test_every_import_inside_a_function_says_why():
    names = module_names()
    unexplained = []
    for imp in graph()[1]:
        if not imp.in_function or imp.target.split(".")[0] == "service":
            continue  # service modules: the test above
        lines = names[imp.module].read_text(encoding="utf-8").splitlines()
        here, above = lines[imp.line - 1], lines[imp.line - 2].strip()
        if "#" not in here and not above.startswith("#"):
            unexplained.append(f"{imp.module}:{imp.line} imports {imp.target}")
    assert not unexplained, ("an import inside a function needs a one-line reason (a comment on "
                             "its line or the one above):\n" + "\n".join(sorted(set(unexplained))))


def test_only_the_registry_imports_modules_by_name():
    """A string-based import is an edge this test cannot see."""
    by_name = []
    for name, path in module_names().items():
        if name == REGISTRY:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                    node.func, "id", None)) in ("import_module", "__import__"):
                by_name.append(f"{name}:{node.lineno}")
    assert not by_name, "import by name outside service.capabilities: " + ", ".join(by_name)
