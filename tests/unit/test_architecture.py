"""The house rules, checked on the source (ARCHITECTURE.md "Rules of the house", issue 8).

- `intake/` never imports `workers`, `celery` or `kombu` (only `intake/cli/`, which starts
  the daemons, may reach `workers/`): the domain runs without Celery.
- No import cycles among the modules of `intake/` and `workers/`, counting imports inside
  functions (only `if TYPE_CHECKING:` imports are left out: they never run).
- No module over 400 lines; no function over 60 lines in the flow code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("intake", "workers")
FORBIDDEN_IN_DOMAIN = ("workers", "celery", "kombu")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
FLOW_ROOMS = ("intake/capture", "intake/process", "intake/outbox", "intake/send")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        files += [p for p in sorted((ROOT / package).rglob("*.py")) if "migrations" not in p.parts]
    return files


MODULES = {module_name(p): p for p in source_files()}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(path: Path) -> Iterator[str]:
    """Every module name an import in the file may load, at any depth, except type-only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]

    def walk(node: ast.AST) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from walk(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                yield base
                for alias in child.names:
                    yield f"{base}.{alias.name}"
            yield from walk(child)

    yield from walk(tree)


def internal_edges(path: Path) -> set[str]:
    """The modules of ours this file imports (a name resolved to the module it loads)."""
    targets = set()
    for name in imported_names(path):
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module_name(path):
            targets.add(name)
    return targets


def import_graph() -> dict[str, set[str]]:
    graph = {name: internal_edges(path) for name, path in MODULES.items()}
    # Importing a.b.c first imports the packages a and a.b.
    for name in list(graph):
        for target in list(graph[name]):
            parts = target.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in MODULES and parent != name and not name.startswith(parent + "."):
                    graph[name].add(parent)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a self-loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_domain_does_not_import_the_task_layer() -> None:
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith("intake") or name.startswith("intake.cli"):
            continue
        for imported in imported_names(path):
            if imported.split(".")[0] in FORBIDDEN_IN_DOMAIN:
                offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_there_are_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_no_module_is_over_the_size_limit() -> None:
    big = {name: n for name, path in MODULES.items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert big == {}


def test_no_flow_function_is_over_the_size_limit() -> None:
    long = []
    for path in source_files():
        if not str(path.relative_to(ROOT)).startswith(FLOW_ROOMS):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{module_name(path)}.{node.name}: {length} lines")
    assert long == []


# -- the checker itself must catch what it is for ---------------------------------------------

def test_the_cycle_finder_finds_a_cycle_through_a_function_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_inside_functions_and_relative_imports_are_seen(tmp_path: Path) -> None:
    source = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from intake.runtime import Runtime\n"
              "def f():\n    from workers.app import make_celery\n    import celery\n")
    path = ROOT / "intake" / "_architecture_probe.py"
    path.write_text(source, encoding="utf-8")
    try:
        names = set(imported_names(path))
    finally:
        path.unlink()
    assert {"workers.app", "workers.app.make_celery", "celery"} <= names
    assert "intake.runtime" not in names


@pytest.mark.parametrize("room", ["capture", "normalize", "triage", "process", "tickets", "outbox",
                                  "send", "channels", "upkeep", "web", "cli"])
def test_the_flow_reads_off_the_tree(room: str) -> None:
    assert (ROOT / "intake" / room / "__init__.py").is_file()
