"""Build the Lambda assets without Docker: ``python -m sluice_cdk.build --arch arm64|x86_64`` (``make build``).

For each function, export its own locked dependency closure from the uv workspace, install the wheels for the
Lambda platform (``--python-platform``, Python 3.13, binary wheels only, hashes required) and the workspace
packages themselves (non-editable) into ``build/<arch>/<function>/``, compile bytecode with a real Python 3.13,
prune what no code path of the function loads (the function's ``prune`` rules and :data:`UNLOADED_SUFFIXES`; the
build proves each pruned module is never imported, see :func:`check_pruned_imports`), then check the result: the
function's own packages are there, the other functions' code and the SDK the runtime already provides are not,
and it fits Lambda's size limit. CDK takes the directories as they are (``lambda_.Code.from_asset``).

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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sluice_cdk import import_graph
from sluice_cdk.config import LAMBDA_PYTHON_VERSION, Architecture
from sluice_shared.errors import PermanentError

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
# Files no Lambda loads, removed from every asset: type stubs (``*.pyi`` and PEP 561 ``*-stubs`` packages) are read
# by type checkers only, and C/Cython sources ship next to the extension modules compiled from them (wrapt ships
# ``_wrappers.c``); no package in the closures compiles anything at run time.
UNLOADED_SUFFIXES: Final = (".pyi", ".c", ".h", ".pyx", ".pxd")
_STUB_PACKAGE_SUFFIX: Final = "-stubs"
# Asset sizes are printed in MiB, as Lambda's console and `du -h` count them.
_MIB: Final = 2**20


class BuildError(PermanentError):
    """A Lambda asset could not be built, or the result breaks a packaging rule."""

    code = "build"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prune:
    """A module tree of a dependency that the function never imports, removed from its asset.

    ``dead_imports`` names each module of the asset that does import it, with why that import never runs in the
    function. The build fails on any other import of it (:func:`check_pruned_imports`), so a dependency upgrade
    that starts to need the module stops the build instead of shipping a function that fails on import.
    """

    module: str
    reason: str
    dead_imports: Mapping[str, str] = field(default_factory=dict)


_POWERTOOLS_SHARED_FUNCTIONS: Final = "aws_lambda_powertools.shared.functions"
# Powertools utilities and resolvers Sluice does not use. Sluice uses Logger, Metrics, Tracer (lazily, when tracing
# is on), the Lambda context typing, and in the ingest function APIGatewayProxyEventV2 (utilities.data_classes).
POWERTOOLS_UNUSED: Final = (
    Prune(
        module="aws_lambda_powertools.event_handler",
        reason="API Gateway/AppSync/Bedrock routers with their OpenAPI models and Swagger UI bundle: the ingest "
        "function reads its one route from APIGatewayProxyEventV2 itself",
        dead_imports={
            _POWERTOOLS_SHARED_FUNCTIONS: "only in pydantic_to_dict(), which runs for a Pydantic model given to "
            "Logger(log_event=True) (Lambda passes a handler JSON values, never models) or to shared.json_encoder "
            "(used only by the routers, idempotency and parameters, all pruned)",
        },
    ),
    Prune(module="aws_lambda_powertools.utilities.batch", reason="the consumer reports batch item failures itself"),
    Prune(
        module="aws_lambda_powertools.utilities.parser",
        reason="Pydantic event envelopes: Sluice validates with its own models (sluice_shared.contract)",
    ),
    Prune(
        module="aws_lambda_powertools.utilities.idempotency",
        reason="DynamoDB idempotency: the consumer is idempotent on event_id in PostgreSQL",
    ),
    Prune(
        module="aws_lambda_powertools.utilities.parameters",
        reason="SSM/Secrets Manager/AppConfig parameters: the consumer reads its secret with boto3",
    ),
    Prune(module="aws_lambda_powertools.utilities.feature_flags", reason="AppConfig feature flags: not used"),
    Prune(module="aws_lambda_powertools.utilities.validation", reason="JSON Schema validation: Sluice uses Pydantic"),
    Prune(module="aws_lambda_powertools.utilities.data_masking", reason="KMS data masking: not used"),
    Prune(module="aws_lambda_powertools.utilities.streaming", reason="S3 object streaming: not used"),
    Prune(module="aws_lambda_powertools.utilities.kafka", reason="Kafka event deserialisation: not used"),
    Prune(module="aws_lambda_powertools.utilities.circuit_breaker", reason="circuit breaker: not used"),
    Prune(module="aws_lambda_powertools.utilities.auth_alpha", reason="JWT authorisation (alpha): not used"),
    Prune(module="pydantic.mypy", reason="Pydantic's mypy plugin, loaded by mypy only"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSpec:
    """One Lambda function's asset: its uv workspace package, what must and must not be inside, what is pruned.

    ``packages`` are the function's own top-level packages: every module of theirs may run (handlers, migrations,
    lazily imported collaborators), so the import proof of :func:`check_pruned_imports` starts from all of them.
    """

    name: str
    package: str
    packages: tuple[str, ...]
    required: tuple[str, ...]
    forbidden: tuple[str, ...]
    prune: tuple[Prune, ...] = ()


FUNCTIONS: Final = (
    FunctionSpec(
        name="consumer",
        package="sluice-consumer",
        packages=("sluice_shared", "sluice_consumer"),
        required=("sluice_shared", "sluice_consumer", "psycopg", "psycopg_binary", "psycopg_pool", "pydantic"),
        forbidden=("sluice_ingest", "sluice_cli", "sluice_local", "sluice_cdk"),
        prune=(
            *POWERTOOLS_UNUSED,
            Prune(
                module="aws_lambda_powertools.utilities.data_classes",
                reason="typed event wrappers: the consumer reads SQS records as plain dicts (sluice_consumer.records)",
            ),
        ),
    ),
    FunctionSpec(
        name="ingest",
        package="sluice-ingest",
        packages=("sluice_shared", "sluice_ingest"),
        required=("sluice_shared", "sluice_ingest", "pydantic"),
        forbidden=(
            "sluice_consumer",
            "sluice_cli",
            "sluice_local",
            "sluice_cdk",
            "psycopg",
            "psycopg_binary",
            "psycopg_pool",
        ),
        prune=POWERTOOLS_UNUSED,
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """What pruning removed from one asset."""

    files: int
    bytes: int


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


def zipped_size(path: Path) -> int:
    """Bytes of a zip of ``path`` deflated at zlib's default level (CDK's own archive may differ by a few %)."""
    counter = _ByteCounter()
    with zipfile.ZipFile(counter, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(path).as_posix())
    return counter.size


class _ByteCounter:
    """A write-only, unseekable stream that only counts (zipfile then writes data descriptors)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        """Nothing to release."""


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
