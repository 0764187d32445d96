"""Build the Lambda assets without Docker: ``python -m sluice_cdk.build --arch arm64|x86_64`` (``make build``).

For each function, export its own locked dependency closure from the uv workspace, install the wheels for the
Lambda platform (``--python-platform``, Python 3.13, binary wheels only, hashes required) and the workspace
packages themselves (non-editable) into ``build/<arch>/<function>/``, compile bytecode with a real Python 3.13,
then check the result: the function's own packages are there, the other functions' code and the SDK the runtime
already provides are not, and it fits Lambda's size limit. CDK takes the directories as they are
(``lambda_.Code.from_asset``).

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
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sluice_cdk.config import LAMBDA_PYTHON_VERSION, Architecture
from sluice_shared.errors import PermanentError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "FUNCTIONS",
    "PLATFORMS",
    "RUNTIME_PROVIDED",
    "BuildError",
    "BuildResult",
    "FunctionSpec",
    "Toolchain",
    "build_function",
    "check_asset",
    "ensure_built",
    "find_target_python",
    "find_workspace_root",
    "main",
    "source_fingerprint",
]

# Bump to invalidate every existing build when the steps below change.
BUILD_FORMAT: Final = 1
# uv's manylinux_2_28 targets accept manylinux_2_28 and every older manylinux tag (manylinux2014 included):
# psycopg-binary 3.3 ships only manylinux_2_28 wheels for aarch64, pydantic-core ships manylinux2014 ones.
# Lambda's python3.13 runtime runs on Amazon Linux 2023 (glibc 2.34), so both load.
PLATFORMS: Final[dict[Architecture, str]] = {
    Architecture.ARM64: "aarch64-manylinux_2_28",
    Architecture.X86_64: "x86_64-manylinux_2_28",
}
# The Lambda Python runtime ships boto3 and its dependency closure; shipping our own copies would shadow them.
RUNTIME_PROVIDED: Final[dict[str, str]] = {  # distribution -> top-level module
    "boto3": "boto3",
    "botocore": "botocore",
    "s3transfer": "s3transfer",
    "jmespath": "jmespath",
    "python-dateutil": "dateutil",
    "six": "six",
    "urllib3": "urllib3",
}
# Lambda: 250 MB for the unzipped deployment package, layers included (Lambda quotas).
LAMBDA_UNZIPPED_LIMIT_BYTES: Final = 262_144_000
# Where Lambda unpacks the function's code (LAMBDA_TASK_ROOT).
LAMBDA_TASK_ROOT: Final = "/var/task"
# Installer bookkeeping that records absolute paths or times: removed so identical inputs give identical assets.
_VOLATILE_METADATA: Final = ("direct_url.json", "uv_cache.json", "uv_build.json")
_SKIPPED_DIRS: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist"})


class BuildError(PermanentError):
    """A Lambda asset could not be built, or the result breaks a packaging rule."""

    code = "build"


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSpec:
    """One Lambda function's asset: its uv workspace package and what must and must not be inside."""

    name: str
    package: str
    required: tuple[str, ...]
    forbidden: tuple[str, ...]


FUNCTIONS: Final = (
    FunctionSpec(
        name="consumer",
        package="sluice-consumer",
        required=("sluice_shared", "sluice_consumer", "psycopg", "psycopg_binary", "psycopg_pool", "pydantic"),
        forbidden=("sluice_ingest", "sluice_cli", "sluice_cdk"),
    ),
    FunctionSpec(
        name="ingest",
        package="sluice-ingest",
        required=("sluice_shared", "sluice_ingest", "pydantic"),
        forbidden=("sluice_consumer", "sluice_cli", "sluice_cdk", "psycopg", "psycopg_binary", "psycopg_pool"),
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    """Where one asset is and what went into it."""

    name: str
    path: Path
    fingerprint: str
    size_bytes: int
    seconds: float
    reused: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Toolchain:
    """The uv binary and the target-version interpreter the build runs."""

    uv: str
    python: str

    @classmethod
    def discover(cls, *, python: str | None = None) -> Toolchain:
        """uv from the ``uv`` package, Python 3.13 from ``python`` or :func:`find_target_python`.

        Raises:
            BuildError: no suitable interpreter.
        """
        from uv import find_uv_bin  # noqa: PLC0415 - only builds need it

        return cls(uv=find_uv_bin(), python=python or str(find_target_python()))

    def run(self, args: Sequence[str], *, cwd: Path) -> str:
        """Run one build command and return its standard output.

        Raises:
            BuildError: the command is missing or exits non-zero (its stderr is in the message).
        """
        try:
            completed = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
        except OSError as exc:
            raise BuildError(f"cannot run {args[0]}: {exc}") from exc
        if completed.returncode != 0:
            detail = (completed.stderr or completed.stdout).strip()[-2000:]
            raise BuildError(f"{' '.join(args[:3])} ... failed (exit {completed.returncode}): {detail}")
        return completed.stdout


def find_workspace_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the working directory) holding ``uv.lock``.

    Raises:
        BuildError: none found.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "uv.lock").is_file():
            return directory
    raise BuildError(f"no uv.lock at or above {here}: run from the Sluice checkout")


def find_target_python(version: str = LAMBDA_PYTHON_VERSION) -> Path:
    """An interpreter of the Lambda runtime's Python version: ``python3.13`` on PATH, else pyenv's newest.

    Raises:
        BuildError: none runs and reports ``version``.
    """
    found = shutil.which(f"python{version}")
    pyenv = sorted(
        Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"),
        key=lambda path: tuple(int(part) for part in path.parts[-3].split(".") if part.isdigit()),
        reverse=True,
    )
    for candidate in ([Path(found)] if found else []) + pyenv:
        probe = subprocess.run(  # noqa: S603 - a fixed probe of a local interpreter
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise BuildError(f"no Python {version} interpreter found: install one (pyenv install {version}) or pass --python")


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
    *, root: Path, requirements: str, members: Sequence[str], arch: Architecture, python_version: str
) -> str:
    """A digest of everything that decides an asset's content."""
    digest = hashlib.sha256()
    header = {
        "format": BUILD_FORMAT,
        "arch": arch.value,
        "python": python_version,
        "excluded": sorted(RUNTIME_PROVIDED),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(requirements.encode())
    for path in _source_files(root, members):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def check_asset(path: Path, spec: FunctionSpec) -> int:
    """Return the asset's unzipped size after checking what it holds.

    Raises:
        BuildError: a required module is missing, another function's code or the runtime's SDK is inside, or
            the asset exceeds Lambda's 250 MB unzipped limit.
    """
    top_level = {entry.name.removesuffix(".py") for entry in path.iterdir()}
    problems = []
    if missing := sorted(set(spec.required) - top_level):
        problems.append(f"missing {', '.join(missing)}")
    if foreign := sorted(set(spec.forbidden) & top_level):
        problems.append(f"holds code that belongs elsewhere: {', '.join(foreign)}")
    if shadowing := sorted(set(RUNTIME_PROVIDED.values()) & top_level):
        problems.append(f"holds packages the Lambda runtime provides: {', '.join(shadowing)}")
    size = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    if size > LAMBDA_UNZIPPED_LIMIT_BYTES:
        problems.append(f"{size} bytes unzipped exceeds Lambda's limit of {LAMBDA_UNZIPPED_LIMIT_BYTES}")
    if problems:
        raise BuildError(f"{spec.name} asset at {path}: " + "; ".join(problems))
    return size


def _strip_volatile_metadata(target: Path) -> None:
    for record in target.glob("*.dist-info/RECORD"):
        volatile = [record.parent / name for name in _VOLATILE_METADATA if (record.parent / name).exists()]
        if not volatile:
            continue
        for path in volatile:
            path.unlink()
        names = {f"{record.parent.name}/{path.name}" for path in volatile}
        kept = [line for line in record.read_text().splitlines() if line.split(",", 1)[0] not in names]
        record.write_text("\n".join(kept) + "\n")
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: their shebang names this machine's Python


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
    _strip_volatile_metadata(target)
    # unchecked-hash: zip entries carry 2-second DOS timestamps (and CDK zips with fixed ones), so mtime-checked
    # .pyc files would look stale on Lambda's read-only /var/task and every cold start would recompile.
    # -s/-p: record the path the code has on Lambda, not this staging directory (tracebacks, reproducible .pyc).
    compile_ = [toolchain.python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    toolchain.run([*compile_, "-s", str(target), "-p", LAMBDA_TASK_ROOT, str(target)], cwd=root)


def _manifest_path(out_dir: Path, arch: Architecture, spec: FunctionSpec) -> Path:
    return out_dir / arch.value / f"{spec.name}.build.json"


def _recorded_fingerprint(manifest: Path) -> str | None:
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    value = recorded.get("fingerprint") if isinstance(recorded, dict) else None
    return value if isinstance(value, str) else None


def build_function(
    spec: FunctionSpec,
    *,
    root: Path,
    out_dir: Path,
    arch: Architecture,
    toolchain: Toolchain,
    force: bool = False,
) -> BuildResult:
    """Build (or reuse, when its fingerprint is unchanged) one function's asset under ``out_dir/<arch>/``.

    The new asset replaces the old one only once it is complete and checked.

    Raises:
        BuildError: any step fails or the asset breaks a packaging rule.
    """
    started = time.perf_counter()
    final = out_dir / arch.value / spec.name
    manifest = _manifest_path(out_dir, arch, spec)
    requirements, members = export_requirements(spec, root=root, toolchain=toolchain)
    fingerprint = source_fingerprint(
        root=root, requirements=requirements, members=members, arch=arch, python_version=LAMBDA_PYTHON_VERSION
    )
    reused = not force and final.is_dir() and _recorded_fingerprint(manifest) == fingerprint
    if reused:
        size = check_asset(final, spec)
    else:
        size = _replace_asset(
            spec, final=final, requirements=requirements, members=members, root=root, arch=arch, toolchain=toolchain
        )
        record = {"fingerprint": fingerprint, "arch": arch.value, "python": LAMBDA_PYTHON_VERSION, "size_bytes": size}
        manifest.write_text(json.dumps(record, indent=2) + "\n")
    return BuildResult(
        name=spec.name,
        path=final,
        fingerprint=fingerprint,
        size_bytes=size,
        seconds=time.perf_counter() - started,
        reused=reused,
    )


def _replace_asset(
    spec: FunctionSpec,
    *,
    final: Path,
    requirements: str,
    members: Sequence[str],
    root: Path,
    arch: Architecture,
    toolchain: Toolchain,
) -> int:
    """Install into a staging directory, check it, then swap it in; return its size."""
    final.parent.mkdir(parents=True, exist_ok=True)
    _manifest_path(final.parent.parent, arch, spec).unlink(missing_ok=True)  # stale until the new one is in
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=final.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; Lambda's runtime user must read the files
        _install(requirements=requirements, members=members, root=root, target=staging, arch=arch, toolchain=toolchain)
        size = check_asset(staging, spec)
        if final.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{spec.name}-old-", dir=final.parent))
            final.rename(retired / spec.name)
            shutil.rmtree(retired)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return size


def ensure_built(
    arch: Architecture,
    *,
    root: Path | None = None,
    out_dir: Path | None = None,
    toolchain: Toolchain | None = None,
    force: bool = False,
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
        spec.name: build_function(spec, root=root, out_dir=out_dir, arch=arch, toolchain=toolchain, force=force)
        for spec in functions
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sluice_cdk.build``: build the assets and print one line per function."""
    parser = argparse.ArgumentParser(prog="python -m sluice_cdk.build", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--arch", choices=[arch.value for arch in Architecture], default=Architecture.ARM64.value)
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: <workspace>/build)")
    parser.add_argument("--python", default=None, help=f"Python {LAMBDA_PYTHON_VERSION} used to compile bytecode")
    parser.add_argument("--function", action="append", choices=[spec.name for spec in FUNCTIONS], default=None)
    parser.add_argument("--force", action="store_true", help="rebuild even when the fingerprint is unchanged")
    options = parser.parse_args(argv)
    wanted = [spec for spec in FUNCTIONS if options.function is None or spec.name in options.function]
    try:
        results = ensure_built(
            Architecture(options.arch),
            out_dir=options.out,
            toolchain=Toolchain.discover(python=options.python),
            force=options.force,
            functions=wanted,
        )
    except BuildError as exc:
        print(f"sluice-cdk build: {exc}", file=sys.stderr)  # noqa: T201 - a command-line tool
        return 2
    for result in results.values():
        state = "unchanged" if result.reused else f"built in {result.seconds:.1f} s"
        print(f"{result.name:<9} {options.arch:<7} {result.size_bytes / 2**20:6.1f} MiB  {result.path}  ({state})")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
