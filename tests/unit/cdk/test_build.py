"""The Lambda asset builder's pure parts: export parsing, fingerprints, asset checks, the command line."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sluice_cdk import build
from sluice_cdk.build import (
    FUNCTIONS,
    RUNTIME_PROVIDED,
    BuildError,
    BuildResult,
    FunctionSpec,
    Prune,
    PruneReport,
    Toolchain,
    check_asset,
    check_pruned_imports,
    export_requirements,
    find_workspace_root,
    prune_asset,
    source_fingerprint,
    zipped_size,
)
from sluice_cdk.config import Architecture
from sluice_cdk.import_graph import PrunedImport

if TYPE_CHECKING:
    from collections.abc import Sequence

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


def _fingerprint(
    root: Path,
    *,
    arch: Architecture = Architecture.ARM64,
    requirements: str = "a==1\n",
    pruned: Sequence[Prune] | None = (),
) -> str:
    return source_fingerprint(
        root=root, requirements=requirements, members=["./pkg"], arch=arch, python_version="3.13", pruned=pruned
    )


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


def _files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_pruning_removes_rule_trees_with_their_bytecode_stubs_and_c_sources(tmp_path: Path) -> None:
    asset = _files(
        tmp_path,
        {
            "lib/__init__.py": b"",
            "lib/router/__init__.py": b"12345",
            "lib/router/ui.js": b"1234567890",
            "lib/plugin.py": b"123",
            "lib/__pycache__/plugin.cpython-313.pyc": b"12",
            "lib/__pycache__/plugin_extra.cpython-313.pyc": b"kept",
            "lib/_speed.c": b"1234",
            "lib/types.pyi": b"1",
            "lib-stubs/__init__.pyi": b"12",
            "lib-1.0.dist-info/RECORD": b"lib/__init__.py,,\nlib/router/ui.js,,\nlib/_speed.c,,\n"
            b"lib-1.0.dist-info/RECORD,,\n",
        },
    )
    rules = [Prune(module="lib.router", reason="unused"), Prune(module="lib.plugin", reason="unused")]

    report = prune_asset(asset, rules)

    assert report == PruneReport(files=7, bytes=5 + 10 + 3 + 2 + 4 + 1 + 2)
    left = sorted(path.relative_to(asset).as_posix() for path in asset.rglob("*") if path.is_file())
    assert left == ["lib-1.0.dist-info/RECORD", "lib/__init__.py", "lib/__pycache__/plugin_extra.cpython-313.pyc"]
    assert (asset / "lib-1.0.dist-info/RECORD").read_text() == "lib/__init__.py,,\nlib-1.0.dist-info/RECORD,,\n"


def test_a_prune_rule_that_matches_nothing_is_a_clear_error(tmp_path: Path) -> None:
    asset = _files(tmp_path, {"lib/__init__.py": b""})

    with pytest.raises(BuildError, match=r"prune rule 'lib\.renamed' matches nothing"):
        prune_asset(asset, [Prune(module="lib.renamed", reason="unused")])


SPEC = FunctionSpec(
    name="fn",
    package="fn",
    packages=("fn",),
    required=("fn",),
    forbidden=(),
    prune=(Prune(module="lib.gone", reason="unused", dead_imports={"lib.util": "only for models, never passed"}),),
)


def test_an_acknowledged_dead_import_of_a_pruned_module_passes() -> None:
    check_pruned_imports(SPEC, [PrunedImport("lib.util", "lib.gone", 12, "import")])


def test_an_unacknowledged_import_of_a_pruned_module_stops_the_build() -> None:
    found = [PrunedImport("lib.util", "lib.gone", 12, "import"), PrunedImport("lib.core", "lib.gone", 3, "name")]

    with pytest.raises(BuildError, match=r"fn asset: lib\.core \(line 3\) imports pruned lib\.gone$"):
        check_pruned_imports(SPEC, found)


def test_an_acknowledgement_whose_import_disappeared_is_stale() -> None:
    with pytest.raises(BuildError, match=r"lib\.gone: acknowledged import from lib\.util no longer exists"):
        check_pruned_imports(SPEC, [])


def test_every_pruned_module_of_the_functions_says_why() -> None:
    rules = [rule for spec in FUNCTIONS for rule in spec.prune]

    assert all(rule.reason and all(rule.dead_imports.values()) for rule in rules)
    assert {rule.module for rule in CONSUMER.prune} - {rule.module for rule in INGEST.prune} == {
        "aws_lambda_powertools.utilities.data_classes"  # the ingest function reads APIGatewayProxyEventV2
    }


def test_fingerprint_follows_the_pruning(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()

    pruned = _fingerprint(tmp_path, pruned=CONSUMER.prune)

    assert pruned != _fingerprint(tmp_path, pruned=None)
    assert pruned != _fingerprint(tmp_path, pruned=INGEST.prune)


def test_zipped_size_is_what_a_deflated_zip_of_the_files_takes(tmp_path: Path) -> None:
    asset = _files(tmp_path / "asset", {"a.txt": b"a" * 100_000, "sub/b.bin": bytes(range(256)) * 4})
    archive = tmp_path / "asset.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as reference:
        reference.write(asset / "a.txt", "a.txt")
        reference.write(asset / "sub/b.bin", "sub/b.bin")

    size = zipped_size(asset)

    # The counting stream cannot seek back, so each entry carries a 16-byte data descriptor instead.
    assert size == archive.stat().st_size + 2 * 16


def test_command_line_prints_unzipped_zipped_and_pruned_sizes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def built(*_args: object, **_kwargs: object) -> dict[str, BuildResult]:
        result = BuildResult(
            name="consumer",
            path=Path("/repo/build/arm64/consumer"),
            fingerprint="f",
            size_bytes=27 * 2**20,
            zipped_bytes=9 * 2**20,
            pruned=PruneReport(files=539, bytes=5 * 2**20),
            seconds=12.0,
            reused=False,
        )
        return {"consumer": result}

    monkeypatch.setattr(build, "ensure_built", built)

    assert build.main(["--arch", "arm64", "--python", "python3.13", "--function", "consumer"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "asset     arch     unzipped    zipped    pruned  path",
        "consumer  arm64    27.0 MiB   9.0 MiB   5.0 MiB  /repo/build/arm64/consumer  (built in 12.0 s)",
    ]
