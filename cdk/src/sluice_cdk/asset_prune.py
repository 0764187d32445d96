"""Pruning a built asset: what no code path of the function loads is removed, and the build proves it unused.

:func:`prune_asset` removes each rule's module tree and the files no Lambda loads; :func:`scan_imports` and
:func:`check_pruned_imports` refuse an asset whose own code can still import a pruned module.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sluice_cdk import import_graph
from sluice_cdk.asset_spec import BuildError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from sluice_cdk.asset_spec import FunctionSpec, Prune
    from sluice_cdk.toolchain import Toolchain

__all__ = [
    "UNLOADED_SUFFIXES",
    "PruneReport",
    "check_pruned_imports",
    "prune_asset",
    "scan_imports",
    "strip_volatile_metadata",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """What pruning removed from one asset."""

    files: int
    bytes: int


# Installer bookkeeping that records absolute paths or times: removed so identical inputs give identical assets.
_VOLATILE_METADATA: Final = ("direct_url.json", "uv_cache.json", "uv_build.json")
# Files no Lambda loads, removed from every asset: type stubs (``*.pyi`` and PEP 561 ``*-stubs`` packages) are read
# by type checkers only, and C/Cython sources ship next to the extension modules compiled from them (wrapt ships
# ``_wrappers.c``); no package in the closures compiles anything at run time.
UNLOADED_SUFFIXES: Final = (".pyi", ".c", ".h", ".pyx", ".pxd")
_STUB_PACKAGE_SUFFIX: Final = "-stubs"


def strip_volatile_metadata(target: Path) -> None:
    """Remove installer bookkeeping that records this machine (absolute paths, times, console scripts)."""
    for record in target.glob("*.dist-info/RECORD"):
        for name in _VOLATILE_METADATA:
            (record.parent / name).unlink(missing_ok=True)
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: their shebang names this machine's Python
    _drop_missing_from_records(target)


def _drop_missing_from_records(target: Path) -> None:
    """Keep each distribution's RECORD true to what the asset holds: forget the files removed after install."""
    for record in target.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines()
        kept = [line for line in lines if (target / line.rsplit(",", 2)[0]).exists()]
        if kept != lines:
            record.unlink()  # a new file, never a write through a hard link into uv's cache
            record.write_text("\n".join(kept) + "\n")


def _remove(path: Path) -> PruneReport:
    files = [path] if path.is_file() else [file for file in path.rglob("*") if file.is_file()]
    report = PruneReport(files=len(files), bytes=sum(file.stat().st_size for file in files))
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    return report


def prune_asset(target: Path, rules: Sequence[Prune]) -> PruneReport:
    """Remove each rule's module tree and every file of :data:`UNLOADED_SUFFIXES` or ``*-stubs`` package.

    A module's compiled bytecode goes with it; each distribution's RECORD then lists only the files left.

    Raises:
        BuildError: a rule matches nothing (the dependency changed: the rule is stale).
    """
    removed: list[PruneReport] = []
    for rule in rules:
        base = target.joinpath(*rule.module.split("."))
        bytecode = base.parent.glob(f"__pycache__/{base.name}.*.pyc")
        matches = [path for path in (base, base.with_suffix(".py")) if path.exists()]
        matches += list(bytecode) if matches else []
        if not matches:
            raise BuildError(f"prune rule {rule.module!r} matches nothing in {target}: remove or update it")
        removed += [_remove(path) for path in matches]
    stubs = [path for path in target.iterdir() if path.is_dir() and path.name.endswith(_STUB_PACKAGE_SUFFIX)]
    removed += [_remove(path) for path in stubs]
    removed += [_remove(path) for path in sorted(target.rglob("*")) if path.suffix in UNLOADED_SUFFIXES]
    _drop_missing_from_records(target)
    return PruneReport(files=sum(item.files for item in removed), bytes=sum(item.bytes for item in removed))


def check_pruned_imports(spec: FunctionSpec, found: Sequence[import_graph.PrunedImport]) -> None:
    """Refuse an asset whose code can import a pruned module, unless that import is acknowledged as dead.

    ``found`` is what :func:`sluice_cdk.import_graph.scan` reports from the function's own packages.

    Raises:
        BuildError: a reachable module imports (or names) a pruned module without a ``dead_imports`` entry, or an
            entry names an import that no longer exists (the dependency changed: review the rule).
    """
    rules = {rule.module: rule for rule in spec.prune}
    problems = [
        f"{ref.importer} (line {ref.line}) imports pruned {ref.target}"
        for ref in found
        if ref.importer not in rules[ref.target].dead_imports
    ]
    seen = {(ref.target, ref.importer) for ref in found}
    problems += [
        f"{rule.module}: acknowledged import from {importer} no longer exists"
        for rule in spec.prune
        for importer in rule.dead_imports
        if (rule.module, importer) not in seen
    ]
    if problems:
        raise BuildError(f"{spec.name} asset: " + "; ".join(problems))


def scan_imports(target: Path, spec: FunctionSpec, toolchain: Toolchain) -> import_graph.ImportGraph:
    """The import graph of the asset at ``target`` from the function's own packages (see :mod:`.import_graph`).

    Parsed by the target Python (``toolchain.python``): a dependency may use syntax newer than the interpreter
    running the build.

    Raises:
        BuildError: the scan fails (for example a file that the target Python cannot parse).
    """
    args = [toolchain.python, "-I", import_graph.__file__, str(target)]
    args += [arg for package in spec.packages for arg in ("--package", package)]
    args += [arg for rule in spec.prune for arg in ("--pruned", rule.module)]
    report: dict[str, Any] = json.loads(toolchain.run(args, cwd=target))
    return import_graph.ImportGraph(
        reachable=report["reachable"],
        pruned_imports=[import_graph.PrunedImport(**ref) for ref in report["pruned_imports"]],
    )
