"""`make build` for real: x86_64 assets imported module by module under Python 3.13, arm64 wheels checked.

The x86_64 smoke test emulates Lambda's python3.13 runtime: an isolated interpreter (``-I -S``: no site-packages,
no environment) whose path is the asset first and then a directory holding only the SDK the runtime provides
(boto3 and its closure, at the locked versions). Every module of the function's own packages must import from
its compiled bytecode, and psycopg must use its bundled libpq (Lambda has no system libpq).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from sluice_cdk.build import (
    FUNCTIONS,
    PLATFORMS,
    RUNTIME_PROVIDED,
    BuildResult,
    Toolchain,
    ensure_built,
    find_workspace_root,
)
from sluice_cdk.config import LAMBDA_PYTHON_VERSION, Architecture

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

ROOT: Final = find_workspace_root(Path(__file__).parent)
OWN_PACKAGES: Final = {"consumer": ("sluice_shared", "sluice_consumer"), "ingest": ("sluice_shared", "sluice_ingest")}
EM_AARCH64: Final = 183  # ELF e_machine of 64-bit ARM
EM_X86_64: Final = 62
# Imports every module of the given packages from the asset and reports what came from bytecode.
SMOKE: Final = """
import importlib, json, os, pkgutil, sys
asset, runtime, *packages = sys.argv[1:]
sys.path[:0] = [asset, runtime]
imported, failed = [], {}
for name in packages:
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception as exc:
            failed[info.name] = f"{type(exc).__name__}: {exc}"
report = {"imported": sorted(imported), "failed": failed, "version": "%d.%d" % sys.version_info[:2]}
if os.path.isdir(os.path.join(asset, "psycopg")):  # the driver itself: which libpq does it load?
    report["psycopg_impl"] = importlib.import_module("psycopg").pq.__impl__
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    return Toolchain.discover()


@pytest.fixture(scope="module")
def x86_assets(tmp_path_factory: pytest.TempPathFactory, toolchain: Toolchain) -> dict[str, BuildResult]:
    return ensure_built(Architecture.X86_64, root=ROOT, out_dir=tmp_path_factory.mktemp("build"), toolchain=toolchain)


@pytest.fixture(scope="module")
def runtime_sdk(tmp_path_factory: pytest.TempPathFactory, toolchain: Toolchain) -> Path:
    """Only what Lambda's runtime provides (boto3 and its closure), at the locked versions, for x86_64."""
    target = tmp_path_factory.mktemp("runtime")
    export = [toolchain.uv, "export", "--package", "sluice-consumer", "--frozen", "--no-dev", "--no-emit-workspace"]
    exported = toolchain.run([*export, "--no-header", "--no-annotate", "--format", "requirements-txt"], cwd=ROOT)
    blocks = [block for block in _requirement_blocks(exported) if _name(block) in RUNTIME_PROVIDED]
    requirements = target.parent / "runtime-requirements.txt"
    requirements.write_text("".join(blocks))
    install = [toolchain.uv, "pip", "install", "--quiet", "--target", str(target), "--only-binary", ":all:"]
    platform = ["--python-platform", PLATFORMS[Architecture.X86_64], "--python-version", LAMBDA_PYTHON_VERSION]
    toolchain.run([*install, *platform, "--no-deps", "--require-hashes", "-r", str(requirements)], cwd=ROOT)
    return target


def _requirement_blocks(exported: str) -> Iterator[str]:
    block: list[str] = []
    for line in exported.splitlines(keepends=True):
        if not line.startswith(" ") and block:
            yield "".join(block)
            block = []
        block.append(line)
    if block:
        yield "".join(block)


def _name(block: str) -> str:
    return block.split("==", 1)[0].strip()


def _modules(asset: Path, packages: tuple[str, ...]) -> list[str]:
    names = []
    for package in packages:
        for source in (asset / package).rglob("*.py"):
            parts = source.relative_to(asset).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def _machines(asset: Path) -> set[int]:
    return {int.from_bytes(path.read_bytes()[18:20], "little") for path in asset.rglob("*.so*") if path.is_file()}


@pytest.mark.parametrize("function", ["consumer", "ingest"])
def test_x86_64_asset_imports_every_module_under_the_lambda_python(
    function: str, x86_assets: dict[str, BuildResult], runtime_sdk: Path, toolchain: Toolchain
) -> None:
    asset = x86_assets[function].path

    # -I -S: no site-packages and no environment, like /var/lang on Lambda; -B: never rewrite the bytecode.
    completed = subprocess.run(
        [toolchain.python, "-I", "-S", "-B", "-v", "-c", SMOKE, str(asset), str(runtime_sdk), *OWN_PACKAGES[function]],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(completed.stdout)

    assert report["failed"] == {}
    assert report["version"] == LAMBDA_PYTHON_VERSION
    assert set(_modules(asset, OWN_PACKAGES[function])) <= set(report["imported"])
    compiled = [line for line in completed.stderr.splitlines() if line.startswith("# code object from")]
    from_asset = [line for line in compiled if str(asset) in line]
    assert [line for line in from_asset if not line.endswith(".cpython-313.pyc'")] == []  # none compiled on import
    assert len(from_asset) >= len(report["imported"])
    if function == "consumer":
        assert report["psycopg_impl"] == "binary"


def test_assets_hold_only_their_own_function_and_no_runtime_sdk(x86_assets: dict[str, BuildResult]) -> None:
    consumer = {entry.name for entry in x86_assets["consumer"].path.iterdir()}
    ingest = {entry.name for entry in x86_assets["ingest"].path.iterdir()}
    sdk = set(RUNTIME_PROVIDED.values()) | {f"{module}.py" for module in RUNTIME_PROVIDED.values()}

    assert {"sluice_consumer", "sluice_shared", "psycopg_binary"} <= consumer
    assert consumer.isdisjoint({"sluice_ingest", "sluice_cli", "sluice_cdk"} | sdk)
    assert {"sluice_ingest", "sluice_shared"} <= ingest
    assert ingest.isdisjoint({"sluice_consumer", "sluice_cli", "sluice_cdk", "psycopg", "psycopg_binary"} | sdk)
    assert _machines(x86_assets["consumer"].path) == {EM_X86_64}


def test_bytecode_is_hash_checked_and_names_the_lambda_path(x86_assets: dict[str, BuildResult]) -> None:
    asset = x86_assets["ingest"].path
    sources = sorted((asset / "sluice_shared").rglob("*.py"))
    compiled = [source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc" for source in sources]

    assert sources
    assert all(path.is_file() for path in compiled)
    # PEP 552 flags: 0b01 = hash-based, source not checked (zip timestamps cannot invalidate it).
    assert {int.from_bytes(path.read_bytes()[4:8], "little") for path in compiled} == {0b01}
    assert (
        b"/var/task/sluice_shared/contract.py"
        in (asset / "sluice_shared/__pycache__/contract.cpython-313.pyc").read_bytes()
    )


def test_unchanged_sources_reuse_the_previous_build(x86_assets: dict[str, BuildResult], toolchain: Toolchain) -> None:
    out_dir = x86_assets["consumer"].path.parent.parent

    again = ensure_built(Architecture.X86_64, root=ROOT, out_dir=out_dir, toolchain=toolchain)

    assert {name: result.reused for name, result in again.items()} == {"consumer": True, "ingest": True}
    assert {name: result.fingerprint for name, result in again.items()} == {
        name: result.fingerprint for name, result in x86_assets.items()
    }


def test_arm64_asset_ships_aarch64_wheels_of_the_locked_psycopg(tmp_path: Path, toolchain: Toolchain) -> None:
    (consumer,) = FUNCTIONS[:1]

    result = ensure_built(Architecture.ARM64, root=ROOT, out_dir=tmp_path, toolchain=toolchain, functions=[consumer])

    asset = result["consumer"].path
    assert _machines(asset) == {EM_AARCH64}
    (binary,) = asset.glob("psycopg_binary-*.dist-info")
    (driver,) = asset.glob("psycopg-*.dist-info")
    # psycopg-binary 3.3 has only manylinux_2_28 aarch64 wheels: a wrong platform tag falls back to 3.2.
    assert binary.name.removeprefix("psycopg_binary-") == driver.name.removeprefix("psycopg-")
    assert "manylinux_2_28_aarch64" in (binary / "WHEEL").read_text()
