"""The local pipeline is a package of its own: the operator CLI installs neither moto nor testcontainers, and
``sluice local`` without that package says how to install it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from uv import find_uv_bin

from sluice_cli.app import EXIT_USAGE
from sluice_cli.local import INSTALL_HINT

ROOT = Path(__file__).resolve().parents[3]
EMULATOR_ONLY = {"moto", "testcontainers"}
# A distribution line of `uv export`: "name==version ..." or "-e ./path" for a workspace member.
REQUIREMENT = re.compile(r"^(?:-e \./(?P<path>\S+)|(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^]]*\])?==)")
# Run first in the child: `import sluice_local` then fails as it would where the package is not installed.
BLOCKER = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name == "sluice_local" or name.startswith("sluice_local."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _locked_closure(package: str) -> set[str]:
    """The distributions ``uv export`` names for ``package``'s runtime (no dev group), from the lockfile only."""
    exported = subprocess.run(
        [find_uv_bin(), "export", "--package", package, "--no-dev", "--frozen", "--no-hashes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    names = set()
    for line in exported.stdout.splitlines():
        if match := REQUIREMENT.match(line):
            names.add(match["name"].lower() if match["name"] else Path(match["path"]).name)
    return names


def test_the_cli_locked_runtime_closure_has_neither_moto_nor_testcontainers() -> None:
    cli = _locked_closure("sluice-cli")
    local = _locked_closure("sluice-local")

    assert cli & EMULATOR_ONLY == set()
    assert "local" not in cli  # the workspace member services/local
    assert local >= EMULATOR_ONLY | {"typer"}  # the check reads real names: the emulator's closure has them


def _sluice_without_local(arguments: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``sluice`` console script in a Python that cannot import ``sluice_local``."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER), encoding="utf-8")
    return subprocess.run(
        [str(Path(sys.executable).with_name("sluice")), *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "200"},
    )


@pytest.mark.parametrize(
    "arguments", [["local", "demo"], ["local", "up", "--database-url", "postgresql://x@h/db"], ["local"]]
)
def test_sluice_local_without_the_package_is_one_line_saying_how_to_install_it(
    arguments: list[str], tmp_path: Path
) -> None:
    # when `sluice local ...` runs where sluice_local cannot be imported
    result = _sluice_without_local(arguments, tmp_path)

    # then one line on stderr, a usage exit and no traceback
    assert (result.returncode, result.stdout, result.stderr) == (EXIT_USAGE, "", f"error: {INSTALL_HINT}\n")


def test_the_other_commands_work_without_the_local_package(tmp_path: Path) -> None:
    result = _sluice_without_local(["--help"], tmp_path)

    assert result.returncode == 0, result.stderr
    assert re.search(r"│ local +Run the whole pipeline on this machine \(needs the sluice-local package", result.stdout)
    assert re.search(r"│ push ", result.stdout)
