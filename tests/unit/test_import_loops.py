"""Product modules import each other without loops (module-level imports, as Python runs them at import time).

Imports under ``if TYPE_CHECKING:`` and inside functions are left out: the first never run, the second run
after every module involved has loaded (they are how a deliberate lazy import is written).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
SOURCES: Final = (
    ROOT / "shared" / "src",
    ROOT / "services" / "consumer" / "src",
    ROOT / "services" / "ingest" / "src",
    ROOT / "services" / "cli" / "src",
    ROOT / "services" / "local" / "src",
    ROOT / "cdk" / "src",
)


def _module_name(source: Path, path: Path) -> str:
    parts = list(path.relative_to(source).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            modules[_module_name(source, path)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (not in functions, not under TYPE_CHECKING)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            pending.extend(node.body)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the product modules it imports at import time (a package's ``__init__`` included)."""
    modules = product_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
                names_only = len(submodules) < len(node.names)
                targets = [*submodules, *([base] if names_only else [])]
            for target in targets:
                # An edge to the module named (``from a.b import c``: a.b.c when it is a module, else a.b). The
                # parent packages Python initialises on the way are not edges: a package's __init__ importing
                # its own submodules is how packages are built, not a loop.
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_holds_module_level_imports_only() -> None:
    graph = import_graph()

    assert len(graph) > 100
    assert {"sluice_shared.contract", "sluice_shared.errors"} <= graph["sluice_consumer.logic"]
    # store imports Database only under TYPE_CHECKING, in_process the handler only inside its function
    assert "sluice_consumer.database" not in graph["sluice_consumer.store"]
    assert "sluice_consumer.handler" not in graph["sluice_consumer.in_process"]


def test_a_loop_is_found_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: source.parent.name)
def test_every_source_tree_exists(source: Path) -> None:
    assert any(source.rglob("*.py"))


def test_product_modules_import_each_other_without_loops() -> None:
    assert cycles(import_graph()) == []
