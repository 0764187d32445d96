"""Which modules of an installed package tree a set of packages can import, read from the source without running it.

The asset builder uses it to prove that what it prunes from a Lambda asset is never imported: starting from the
function's own packages, it follows every ``import`` and ``from ... import`` statement of every module it reaches,
including the ones inside functions (lazy imports) and in ``try``/``except ImportError`` blocks, but not those under
``if TYPE_CHECKING:`` (never executed). String constants that name a module count too (a lazy loader or
``importlib.import_module`` called with a literal). The result over-approximates what can load: a module is
reachable as soon as any reachable module names it, whether or not that line ever runs.

Standard library only, and runnable as a script (``python import_graph.py ASSET --package P --pruned M``, JSON
on standard output) so the builder can parse the asset with the Lambda runtime's own Python version.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["ImportGraph", "PrunedImport", "main", "module_index", "scan"]

_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# The start of a computed module name: "package.ext.%s" (%-format), "package.ext.{}" or the first part of an
# f-string f"package.ext.{name}". Every module under "package.ext" counts as imported.
_NAME_PREFIX = re.compile(r"(?P<prefix>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)\.(%s|\{.*|)")


@dataclass(frozen=True, slots=True, order=True)
class PrunedImport:
    """A reachable module that names a pruned one: ``importer`` line ``line`` refers to ``target``."""

    importer: str
    target: str
    line: int
    kind: str  # "import" (a statement), "name" (a string constant) or "prefix" (the start of a computed name)


@dataclass(slots=True)
class ImportGraph:
    """Reachable modules (each with the module that first imported it) and every reference to a pruned module."""

    reachable: dict[str, str | None] = field(default_factory=dict)
    pruned_imports: list[PrunedImport] = field(default_factory=list)


def module_index(root: Path) -> dict[str, Path]:
    """Every importable module under ``root`` by dotted name: ``.py`` sources and compiled extensions."""
    index: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root).parts
        if path.suffix == ".py":
            stem = path.stem
        elif path.suffix == ".so" or ".so." in path.name:
            stem = path.name.split(".", 1)[0]  # _psycopg.cpython-313-x86_64-linux-gnu.so -> _psycopg
        else:
            continue
        if not all(part.isidentifier() for part in parts[:-1]) or not stem.isidentifier():
            continue  # not an importable name (a *.libs directory, a dist-info, a script)
        name = ".".join(parts[:-1] if stem == "__init__" else (*parts[:-1], stem))
        index.setdefault(name, path)
    return index


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _references(name: str, path: Path) -> Iterator[tuple[str, int, str]]:
    """``(dotted name, line, kind)`` for every module the source of ``name`` may import."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)  # the body runs only under a type checker
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno, "import") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno, "import"
            # `from package import name` imports package.name when it is a submodule.
            yield from ((f"{base}.{alias.name}", node.lineno, "import") for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _MODULE_NAME.fullmatch(node.value):
                yield node.value, node.lineno, "name"
            elif computed := _NAME_PREFIX.fullmatch(node.value):
                yield computed["prefix"], node.lineno, "prefix"
        pending.extend(ast.iter_child_nodes(node))


def _with_parents(name: str) -> list[str]:
    """``a``, ``a.b``, ``a.b.c`` for ``a.b.c``: importing a module runs its parent packages first."""
    parts = name.split(".")
    return [".".join(parts[:length]) for length in range(1, len(parts) + 1)]


def _is_under(name: str, roots: Sequence[str]) -> str | None:
    return next((root for root in roots if name == root or name.startswith(root + ".")), None)


def _add_computed(
    graph: ImportGraph,
    index: dict[str, Path],
    queue: list[str],
    *,
    importer: str,
    prefix: str,
    line: int,
    pruned: Sequence[str],
) -> None:
    """A computed name under ``prefix``: every module below it may be imported, pruned ones included."""
    graph.pruned_imports.extend(
        PrunedImport(importer, root, line, "prefix") for root in pruned if root.startswith(prefix + ".")
    )
    for name in [name for name in index if name.startswith(prefix + ".") and not _is_under(name, pruned)]:
        for ancestor in _with_parents(name):
            if ancestor in index and ancestor not in graph.reachable:
                graph.reachable[ancestor] = importer
                queue.append(ancestor)


def scan(root: Path, packages: Sequence[str], pruned: Sequence[str] = ()) -> ImportGraph:
    """Follow the imports of every module of ``packages`` through the tree at ``root``.

    A reference to a module under one of ``pruned`` is recorded and not followed; a reference to a module that is
    not in the tree (the standard library, the runtime's SDK, an optional dependency) ends there.
    """
    index = module_index(root)
    graph = ImportGraph()
    queue = [name for name in index if _is_under(name, packages)]
    graph.reachable.update(dict.fromkeys(queue))
    while queue:
        importer = queue.pop()
        if index[importer].suffix != ".py":
            continue
        for target, line, kind in _references(importer, index[importer]):
            if kind == "prefix":
                _add_computed(graph, index, queue, importer=importer, prefix=target, line=line, pruned=pruned)
                continue
            for prefix in _with_parents(target):
                if _is_under(prefix, pruned):
                    graph.pruned_imports.append(PrunedImport(importer, prefix, line, kind))
                    break
                if prefix in index and prefix not in graph.reachable:
                    graph.reachable[prefix] = importer
                    queue.append(prefix)
    graph.pruned_imports = sorted(set(graph.pruned_imports))
    return graph


def main(argv: Sequence[str] | None = None) -> int:
    """Print the import graph of ``ASSET`` from ``--package`` as JSON (``reachable``, ``pruned_imports``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--package", action="append", required=True, help="a package to start from (repeatable)")
    parser.add_argument("--pruned", action="append", default=[], help="a removed module tree (repeatable)")
    options = parser.parse_args(argv)
    graph = scan(options.root, options.package, options.pruned)
    imports = [
        {"importer": ref.importer, "target": ref.target, "line": ref.line, "kind": ref.kind}
        for ref in graph.pruned_imports
    ]
    json.dump({"reachable": graph.reachable, "pruned_imports": imports}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
