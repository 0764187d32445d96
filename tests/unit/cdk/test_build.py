"""The Lambda asset builder's pure parts: export parsing, fingerprints, asset checks, the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from sluice_cdk import build
from sluice_cdk.build import (
    FUNCTIONS,
    RUNTIME_PROVIDED,
    BuildError,
    Toolchain,
    check_asset,
    export_requirements,
    find_workspace_root,
    source_fingerprint,
)
from sluice_cdk.config import Architecture

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

CONSUMER, INGEST = FUNCTIONS
EXPORTED = """./services/consumer
./shared
pydantic==2.14.4 \\
    --hash=sha256:aaaa
psycopg==3.3.9 \\
    --hash=sha256:bbbb
"""


@dataclass(frozen=True, kw_only=True)
class RecordingToolchain(Toolchain):
    """Answers every command with ``output`` and remembers the commands."""

    output: str = ""
    commands: list[tuple[list[str], Path]] = field(default_factory=list)

    def run(self, args: Sequence[str], *, cwd: Path) -> str:
        self.commands.append((list(args), cwd))
        return self.output


def _asset(root: Path, modules: Sequence[str]) -> Path:
    root.mkdir()
    for module in modules:
        (root / module).mkdir()
        (root / module / "__init__.py").write_bytes(b"x" * 10)
    return root


def test_export_separates_workspace_members_from_locked_wheels(tmp_path: Path) -> None:
    toolchain = RecordingToolchain(uv="uv", python="python3.13", output=EXPORTED)

    requirements, members = export_requirements(CONSUMER, root=tmp_path, toolchain=toolchain)

    assert members == ("./services/consumer", "./shared")
    assert requirements == "pydantic==2.14.4 \\\n    --hash=sha256:aaaa\npsycopg==3.3.9 \\\n    --hash=sha256:bbbb\n"
    ((command, cwd),) = toolchain.commands
    assert cwd == tmp_path
    assert command[:7] == ["uv", "export", "--package", "sluice-consumer", "--frozen", "--no-dev", "--no-editable"]
    excluded = [command[i + 1] for i, arg in enumerate(command) if arg == "--no-emit-package"]
    assert excluded == list(RUNTIME_PROVIDED)


def test_complete_asset_passes_and_reports_its_size(tmp_path: Path) -> None:
    asset = _asset(tmp_path / "consumer", CONSUMER.required)

    assert check_asset(asset, CONSUMER) == 10 * len(CONSUMER.required)


@pytest.mark.parametrize(
    ("spec", "modules", "message"),
    [
        (CONSUMER, [*CONSUMER.required, "sluice_ingest"], "holds code that belongs elsewhere: sluice_ingest"),
        (INGEST, [*INGEST.required, "sluice_consumer", "psycopg"], "elsewhere: psycopg, sluice_consumer"),
        (INGEST, [*INGEST.required, "sluice_cli"], "elsewhere: sluice_cli"),
        (CONSUMER, [*CONSUMER.required, "botocore"], "packages the Lambda runtime provides: botocore"),
        (CONSUMER, ["sluice_shared", "sluice_consumer"], "missing psycopg, psycopg_binary, psycopg_pool, pydantic"),
    ],
)
def test_asset_with_foreign_or_missing_code_is_refused(
    tmp_path: Path, spec: build.FunctionSpec, modules: list[str], message: str
) -> None:
    asset = _asset(tmp_path / spec.name, modules)

    with pytest.raises(BuildError, match=message):
        check_asset(asset, spec)


def test_runtime_sdk_shipped_as_a_single_module_file_is_refused(tmp_path: Path) -> None:
    asset = _asset(tmp_path / "ingest", INGEST.required)
    (asset / "six.py").write_text("")

    with pytest.raises(BuildError, match="runtime provides: six"):
        check_asset(asset, INGEST)


def _fingerprint(root: Path, *, arch: Architecture = Architecture.ARM64, requirements: str = "a==1\n") -> str:
    return source_fingerprint(root=root, requirements=requirements, members=["./pkg"], arch=arch, python_version="3.13")


def test_fingerprint_follows_sources_requirements_and_architecture(tmp_path: Path) -> None:
    module = tmp_path / "pkg" / "src" / "pkg" / "module.py"
    module.parent.mkdir(parents=True)
    module.write_text("VALUE = 1\n")
    first = _fingerprint(tmp_path)

    assert _fingerprint(tmp_path) == first
    assert _fingerprint(tmp_path, arch=Architecture.X86_64) != first
    assert _fingerprint(tmp_path, requirements="a==2\n") != first
    module.write_text("VALUE = 2\n")
    assert _fingerprint(tmp_path) != first


def test_fingerprint_ignores_bytecode_and_caches(tmp_path: Path) -> None:
    module = tmp_path / "pkg" / "src" / "pkg" / "module.py"
    module.parent.mkdir(parents=True)
    module.write_text("VALUE = 1\n")
    first = _fingerprint(tmp_path)
    (module.parent / "__pycache__").mkdir()
    (module.parent / "__pycache__" / "module.cpython-313.pyc").write_bytes(b"\0")
    (module.parent / "stray.pyc").write_bytes(b"\0")
    (tmp_path / "pkg" / ".mypy_cache").mkdir()
    (tmp_path / "pkg" / ".mypy_cache" / "x.json").write_text("{}")

    assert _fingerprint(tmp_path) == first


def test_workspace_root_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("")
    nested = tmp_path / "cdk" / "src"
    nested.mkdir(parents=True)

    assert find_workspace_root(nested) == tmp_path


def test_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"no uv\.lock at or above"):
        find_workspace_root(tmp_path)


def test_failing_command_reports_its_stderr(tmp_path: Path) -> None:
    toolchain = Toolchain(uv="uv", python="python3")

    with pytest.raises(BuildError, match=r"exit 3.*boom"):
        toolchain.run(["python3", "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], cwd=tmp_path)


def test_command_line_turns_a_build_error_into_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing_build(*_args: object, **_kwargs: object) -> None:
        raise BuildError("no Python 3.13 interpreter found")

    monkeypatch.setattr(build, "ensure_built", failing_build)

    assert build.main(["--arch", "x86_64", "--python", "python3.13"]) == 2
    assert capsys.readouterr().err == "sluice-cdk build: no Python 3.13 interpreter found\n"
