"""No import loops among the project's own modules. Imports inside functions count: a late import that only
hides a loop is still a loop (the module cannot be understood, or tested, without the other). Only imports
under `if TYPE_CHECKING:` are left out, since they never run."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

from .conftest import ROOT

PACKAGES = ("dr_portal", "patients", "screening", "audit", "ml", "tests")


def project_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages (a package is its __init__.py)."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, wherever it stands (functions too), but not under TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (found for child in node.orelse for found in _runtime_imports(_wrapped(child)))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(node)


def _wrapped(node: ast.stmt) -> ast.Module:
    return ast.Module(body=[node], type_ignores=[])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> Iterator[str]:
    """The dotted names a statement imports: a module, or a package and the names taken from it."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        anchor = ".".join(package[: len(package) - node.level + 1])
        base = f"{anchor}.{base}" if base else anchor
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def _targets(name: str, importer: str, modules: dict[str, Path]) -> Iterator[str]:
    """The project modules that importing `name` runs: the module and the packages above it, except the
    importer's own packages (already running when it is imported)."""
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        target = ".".join(parts[:end])
        if target in modules and not (importer + ".").startswith(target + "."):
            yield target


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line of the first statement that imports it}."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        for node in _runtime_imports(ast.parse(path.read_text(), filename=str(path))):
            for name in _imported_names(node, module, path.name == "__init__.py"):
                for target in _targets(name, module, modules):
                    if target != module:
                        edges.setdefault(target, node.lineno)
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One loop (a list of modules, the first repeated at the end) per group of modules that import each
    other, directly or around a loop."""
    cycles = []
    for group in _strongly_connected(graph):
        if len(group) > 1:
            cycles.append(_loop_through(group, graph))
    return cycles


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    # Kosaraju: a depth-first finishing order, then the reversed graph in reverse finishing order.
    order: list[str] = []
    seen: set[str] = set()
    for start in graph:
        _finish(start, graph, seen, order)
    reverse: dict[str, dict[str, int]] = {module: {} for module in graph}
    for module, edges in graph.items():
        for target in edges:
            reverse[target][module] = edges[target]
    groups: list[set[str]] = []
    assigned: set[str] = set()
    for start in reversed(order):
        if start not in assigned:
            group: list[str] = []
            _finish(start, reverse, assigned, group)
            groups.append(set(group))
    return groups


def _finish(start: str, graph: dict[str, dict[str, int]], seen: set[str], order: list[str]) -> None:
    """Depth-first from start (unless seen): each module reached is appended to `order` once all it reaches is."""
    if start in seen:
        return
    seen.add(start)
    stack = [(start, iter(graph[start]))]
    while stack:
        module, targets = stack[-1]
        target = next((t for t in targets if t not in seen), None)
        if target is None:
            stack.pop()
            order.append(module)
        else:
            seen.add(target)
            stack.append((target, iter(graph[target])))


def _loop_through(group: set[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest way round from the group's first module (by name) back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module]):
                if target == start:
                    return [*paths[module], start]
                if target in group and target not in paths:
                    paths[target] = [*paths[module], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no loop through {start}")  # a strongly connected group always has one


def _described(loop: list[str], graph: dict[str, dict[str, int]], modules: dict[str, Path]) -> str:
    steps = [f"{a} -> {b} ({modules[a].relative_to(ROOT)}:{graph[a][b]})" for a, b in pairwise(loop)]
    return "\n  ".join(steps)


def test_no_module_of_the_project_imports_itself_round_a_loop() -> None:
    modules = project_modules(ROOT, PACKAGES)
    graph = import_graph(modules)
    loops = [_described(loop, graph, modules) for loop in import_cycles(graph)]
    assert not loops, "import loops:\n  " + "\n\n  ".join(loops)


def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, dict[str, int]]:
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return import_graph(project_modules(tmp_path, ("pkg",)))


def test_a_loop_hidden_by_a_late_import_is_found(tmp_path: Path) -> None:
    graph = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from . import b\n",
            "b.py": "def f():\n    from .c import g\n    return g\n",
            "c.py": "import pkg.a\n",
        },
    )
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_imports_under_type_checking_and_a_package_importing_its_own_modules_are_no_loop(tmp_path: Path) -> None:
    graph = _package(
        tmp_path,
        {
            "__init__.py": "from .a import x\n",
            "a.py": "from typing import TYPE_CHECKING\nx = 1\nif TYPE_CHECKING:\n    from .b import y\n",
            "b.py": "from . import a\nfrom .a import x\ny = x\n",
            "sub/__init__.py": "",
            "sub/c.py": "from .. import b\nfrom ..a import x\n",
        },
    )
    assert graph["pkg.a"] == {}
    assert set(graph["pkg.sub.c"]) == {"pkg.b", "pkg.a"}
    assert import_cycles(graph) == []
