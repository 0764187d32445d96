"""Build the Lambda assets without Docker: ``python -m sluice_cdk.build --arch arm64|x86_64`` (``make build``).

For each function, export its own locked dependency closure from the uv workspace, install the wheels for the
Lambda platform (``--python-platform``, Python 3.13, binary wheels only, hashes required) and the workspace
packages themselves (non-editable) into ``build/<arch>/<function>/``, compile bytecode with a real Python 3.13,
prune what no code path of the function loads (:mod:`sluice_cdk.asset_prune`, which proves it), then check the
result (:mod:`sluice_cdk.asset_check`). What each asset holds is :mod:`sluice_cdk.asset_spec`. CDK takes the
directories as they are (``lambda_.Code.from_asset``).

A build is skipped when its fingerprint (the exported requirements, every file of the workspace packages it
includes, the platform and this builder's format) matches the one recorded next to it, so ``make synth``
can call :func:`ensure_built` every time and always ships current code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sluice_cdk.asset_check import check_asset, zipped_size
from sluice_cdk.asset_prune import (
    UNLOADED_SUFFIXES,
    PruneReport,
    check_pruned_imports,
    prune_asset,
    scan_imports,
    strip_volatile_metadata,
)
from sluice_cdk.asset_spec import (
    FUNCTIONS,
    LAMBDA_TASK_ROOT,
    PLATFORMS,
    POWERTOOLS_UNUSED,
    RUNTIME_PROVIDED,
    BuildError,
    FunctionSpec,
    Prune,
)
from sluice_cdk.config import LAMBDA_PYTHON_VERSION, Architecture
from sluice_cdk.toolchain import Toolchain, find_target_python, find_workspace_root

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "FUNCTIONS",
    "PLATFORMS",
    "POWERTOOLS_UNUSED",
    "RUNTIME_PROVIDED",
    "UNLOADED_SUFFIXES",
    "BuildError",
    "BuildResult",
    "FunctionSpec",
    "Prune",
    "PruneReport",
    "Toolchain",
    "build_function",
    "check_asset",
    "check_pruned_imports",
    "ensure_built",
    "find_target_python",
    "find_workspace_root",
    "install_runtime_sdk",
    "main",
    "prune_asset",
    "scan_imports",
    "source_fingerprint",
    "zipped_size",
]

# Bump to invalidate every existing build when the steps below change.
BUILD_FORMAT: Final = 2
# Asset sizes are printed in MiB, as Lambda's console and `du -h` count them.
_MIB: Final = 2**20
_SKIPPED_DIRS: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist"})


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    """Where one asset is and what went into it (sizes in bytes)."""

    name: str
    path: Path
    fingerprint: str
    size_bytes: int
    zipped_bytes: int
    pruned: PruneReport
    seconds: float
    reused: bool


def export_requirements(spec: FunctionSpec, *, root: Path, toolchain: Toolchain) -> tuple[str, tuple[str, ...]]:
    """The function's locked third-party requirements (with hashes) and its workspace members' paths.

    Raises:
        BuildError: uv cannot export (for example a stale ``uv.lock``).
    """
    args = [toolchain.uv, "export", "--package", spec.package, "--frozen", "--no-dev", "--no-editable"]
    args += ["--no-header", "--no-annotate", "--format", "requirements-txt"]
    for distribution in RUNTIME_PROVIDED:
        args += ["--no-emit-package", distribution]
    exported = toolchain.run(args, cwd=root)
    lines = exported.splitlines()
    members = tuple(sorted(line.strip() for line in lines if line.startswith("./")))
    third_party = "\n".join(line for line in lines if not line.startswith("./")) + "\n"
    return third_party, members


def install_runtime_sdk(target: Path, *, arch: Architecture, root: Path, toolchain: Toolchain) -> None:
    """Install only the SDK Lambda's Python runtime provides (:data:`RUNTIME_PROVIDED`) into ``target``.

    At the versions locked in ``uv.lock``, for ``arch``: put it on the path after an asset to run the asset as
    Lambda would (the smoke tests, the cold-start benchmark).

    Raises:
        BuildError: the export or the install fails.
    """
    export = [toolchain.uv, "export", "--package", "sluice-consumer", "--frozen", "--no-dev", "--no-emit-workspace"]
    exported = toolchain.run([*export, "--no-header", "--no-annotate", "--format", "requirements-txt"], cwd=root)
    blocks = [block for block in _requirement_blocks(exported) if block.split("==", 1)[0].strip() in RUNTIME_PROVIDED]
    requirements = target.parent / f"{target.name}.requirements.txt"
    requirements.write_text("".join(blocks))
    try:
        install = [toolchain.uv, "pip", "install", "--quiet", "--target", str(target), "--only-binary", ":all:"]
        platform = ["--python-platform", PLATFORMS[arch], "--python-version", LAMBDA_PYTHON_VERSION]
        toolchain.run([*install, *platform, "--no-deps", "--require-hashes", "-r", str(requirements)], cwd=root)
    finally:
        requirements.unlink()


def _requirement_blocks(exported: str) -> Iterator[str]:
    """Each requirement of a ``uv export`` with its hash lines."""
    block: list[str] = []
    for line in exported.splitlines(keepends=True):
        if not line.startswith(" ") and block:
            yield "".join(block)
            block = []
        block.append(line)
    if block:
        yield "".join(block)


def _source_files(root: Path, members: Sequence[str]) -> Iterator[Path]:
    for member in members:
        for directory, subdirectories, files in os.walk(root / member):
            subdirectories[:] = sorted(
                d for d in subdirectories if d not in _SKIPPED_DIRS and not d.endswith(".egg-info")
            )
            for name in sorted(files):
                if not name.endswith((".pyc", ".pyo")):
                    yield Path(directory) / name


def source_fingerprint(
    *,
    root: Path,
    requirements: str,
    members: Sequence[str],
    arch: Architecture,
    python_version: str,
    pruned: Sequence[Prune] | None = (),
) -> str:
    """A digest of everything that decides an asset's content (``pruned=None``: built without pruning)."""
    digest = hashlib.sha256()
    header = {
        "format": BUILD_FORMAT,
        "arch": arch.value,
        "python": python_version,
        "excluded": sorted(RUNTIME_PROVIDED),
        "pruned": None if pruned is None else [sorted(rule.module for rule in pruned), UNLOADED_SUFFIXES],
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(requirements.encode())
    for path in _source_files(root, members):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _install(
    *, requirements: str, members: Sequence[str], root: Path, target: Path, arch: Architecture, toolchain: Toolchain
) -> None:
    install = [toolchain.uv, "pip", "install", "--quiet", "--target", str(target)]
    install += ["--python-platform", PLATFORMS[arch], "--python-version", LAMBDA_PYTHON_VERSION]
    requirements_file = target.parent / f"{target.name}.requirements.txt"
    requirements_file.write_text(requirements)
    try:
        binary_only = ["--only-binary", ":all:", "--no-deps", "--require-hashes", "-r", str(requirements_file)]
        toolchain.run([*install, *binary_only], cwd=root)
    finally:
        requirements_file.unlink()
    # The workspace packages themselves, built as wheels (non-editable); their dependencies are installed above.
    toolchain.run([*install, "--no-deps", *members], cwd=root)
    strip_volatile_metadata(target)


def _compile(target: Path, *, root: Path, toolchain: Toolchain) -> None:
    # unchecked-hash: zip entries carry 2-second DOS timestamps (and CDK zips with fixed ones), so mtime-checked
    # .pyc files would look stale on Lambda's read-only /var/task and every cold start would recompile.
    # -s/-p: record the path the code has on Lambda, not this staging directory (tracebacks, reproducible .pyc).
    compile_ = [toolchain.python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    toolchain.run([*compile_, "-s", str(target), "-p", LAMBDA_TASK_ROOT, str(target)], cwd=root)


def _manifest_path(out_dir: Path, arch: Architecture, spec: FunctionSpec) -> Path:
    return out_dir / arch.value / f"{spec.name}.build.json"


def _read_manifest(manifest: Path) -> dict[str, Any]:
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def build_function(
    spec: FunctionSpec,
    *,
    root: Path,
    out_dir: Path,
    arch: Architecture,
    toolchain: Toolchain,
    force: bool = False,
    prune: bool = True,
) -> BuildResult:
    """Build (or reuse, when its fingerprint is unchanged) one function's asset under ``out_dir/<arch>/``.

    The new asset replaces the old one only once it is complete and checked. ``prune=False`` ships every
    installed file (to compare, or to rule pruning out when something fails to import).

    Raises:
        BuildError: any step fails or the asset breaks a packaging rule.
    """
    started = time.perf_counter()
    final = out_dir / arch.value / spec.name
    manifest = _manifest_path(out_dir, arch, spec)
    requirements, members = export_requirements(spec, root=root, toolchain=toolchain)
    fingerprint = source_fingerprint(
        root=root,
        requirements=requirements,
        members=members,
        arch=arch,
        python_version=LAMBDA_PYTHON_VERSION,
        pruned=spec.prune if prune else None,
    )
    recorded = _read_manifest(manifest)
    reused = not force and final.is_dir() and recorded.get("fingerprint") == fingerprint
    if reused:
        size = check_asset(final, spec)
        pruned = PruneReport(files=int(recorded["pruned_files"]), bytes=int(recorded["pruned_bytes"]))
        zipped = int(recorded["zipped_bytes"])
    else:
        staging = _Staging(spec=spec, final=final, root=root, arch=arch, toolchain=toolchain)
        size, pruned = staging.replace_asset(requirements=requirements, members=members, prune=prune)
        zipped = zipped_size(final)
        record = {
            "fingerprint": fingerprint,
            "arch": arch.value,
            "python": LAMBDA_PYTHON_VERSION,
            "size_bytes": size,
            "zipped_bytes": zipped,
            "pruned_files": pruned.files,
            "pruned_bytes": pruned.bytes,
        }
        manifest.write_text(json.dumps(record, indent=2) + "\n")
    return BuildResult(
        name=spec.name,
        path=final,
        fingerprint=fingerprint,
        size_bytes=size,
        zipped_bytes=zipped,
        pruned=pruned,
        seconds=time.perf_counter() - started,
        reused=reused,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Staging:
    """Builds one asset in a staging directory next to its final place and swaps it in once checked."""

    spec: FunctionSpec
    final: Path
    root: Path
    arch: Architecture
    toolchain: Toolchain

    def replace_asset(self, *, requirements: str, members: Sequence[str], prune: bool) -> tuple[int, PruneReport]:
        """Install, compile, prune (when asked) and prove it, check, swap in; return the size and the pruning."""
        spec, final = self.spec, self.final
        final.parent.mkdir(parents=True, exist_ok=True)
        _manifest_path(final.parent.parent, self.arch, spec).unlink(missing_ok=True)  # stale until the new one is in
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=final.parent))
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; Lambda's runtime user must read the files
            _install(
                requirements=requirements,
                members=members,
                root=self.root,
                target=staging,
                arch=self.arch,
                toolchain=self.toolchain,
            )
            # Compiled first, so that what pruning reports removed includes the bytecode it would have shipped.
            _compile(staging, root=self.root, toolchain=self.toolchain)
            pruned = PruneReport(files=0, bytes=0)
            if prune:
                pruned = prune_asset(staging, spec.prune)
                check_pruned_imports(spec, scan_imports(staging, spec, self.toolchain).pruned_imports)
            size = check_asset(staging, spec)
            if final.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{spec.name}-old-", dir=final.parent))
                final.rename(retired / spec.name)
                shutil.rmtree(retired)
            staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return size, pruned


def ensure_built(
    arch: Architecture,
    *,
    root: Path | None = None,
    out_dir: Path | None = None,
    toolchain: Toolchain | None = None,
    force: bool = False,
    prune: bool = True,
    functions: Sequence[FunctionSpec] = FUNCTIONS,
) -> dict[str, BuildResult]:
    """Every function's asset for ``arch``, built only where it is missing or stale.

    Raises:
        BuildError: a build fails.
    """
    root = root or find_workspace_root()
    out_dir = out_dir or root / "build"
    toolchain = toolchain or Toolchain.discover()
    return {
        spec.name: build_function(
            spec, root=root, out_dir=out_dir, arch=arch, toolchain=toolchain, force=force, prune=prune
        )
        for spec in functions
    }


def _report(results: Mapping[str, BuildResult], arch: str) -> Iterator[str]:
    yield f"{'asset':<9} {'arch':<7} {'unzipped':>9} {'zipped':>9} {'pruned':>9}  path"
    for result in results.values():
        state = "unchanged" if result.reused else f"built in {result.seconds:.1f} s"
        yield (
            f"{result.name:<9} {arch:<7} {result.size_bytes / _MIB:5.1f} MiB {result.zipped_bytes / _MIB:5.1f} MiB"
            f" {result.pruned.bytes / _MIB:5.1f} MiB  {result.path}  ({state})"
        )
    yield (
        "unzipped: what Lambda counts against its 250 MB limit; zipped: deflated at zlib's default level; "
        "pruned: files no code path of the function loads, removed after install (sluice_cdk.build)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sluice_cdk.build``: build the assets and print one line per function."""
    parser = argparse.ArgumentParser(prog="python -m sluice_cdk.build", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--arch", choices=[arch.value for arch in Architecture], default=Architecture.ARM64.value)
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: <workspace>/build)")
    parser.add_argument("--python", default=None, help=f"Python {LAMBDA_PYTHON_VERSION} used to compile bytecode")
    parser.add_argument("--function", action="append", choices=[spec.name for spec in FUNCTIONS], default=None)
    parser.add_argument("--force", action="store_true", help="rebuild even when the fingerprint is unchanged")
    parser.add_argument("--no-prune", action="store_true", help="ship every installed file (pruning off)")
    options = parser.parse_args(argv)
    wanted = [spec for spec in FUNCTIONS if options.function is None or spec.name in options.function]
    try:
        results = ensure_built(
            Architecture(options.arch),
            out_dir=options.out,
            toolchain=Toolchain.discover(python=options.python),
            force=options.force,
            prune=not options.no_prune,
            functions=wanted,
        )
    except BuildError as exc:
        print(f"sluice-cdk build: {exc}", file=sys.stderr)  # noqa: T201 - a command-line tool
        return 2
    for line in _report(results, options.arch):
        print(line)  # noqa: T201 - a command-line tool
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
