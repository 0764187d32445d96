"""``make install`` on a machine without uv: the locked uv is bootstrapped into .venv, once, nowhere else."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "make"  # every documented command is a make target: make is a prerequisite


def _locked_uv_version() -> str:
    match = re.search(r'^name = "uv"\nversion = "([^"]+)"', (ROOT / "uv.lock").read_text(), re.MULTILINE)
    assert match, "uv.lock must lock uv: sluice-cdk runs it for `make build`"
    return match.group(1)


@pytest.fixture
def fresh_checkout(tmp_path: Path) -> Path:
    """The files `make install` reads, as a fresh clone has them (no .venv yet)."""
    for name in ("Makefile", "uv.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for project in ROOT.glob("*/pyproject.toml"):
        (tmp_path / project.parent.name).mkdir()
        shutil.copy(project, tmp_path / project.parent.name / "pyproject.toml")
    for project in ROOT.glob("services/*/pyproject.toml"):
        target = tmp_path / "services" / project.parent.name
        target.mkdir(parents=True)
        shutil.copy(project, target / "pyproject.toml")
    return tmp_path


@pytest.fixture
def path_without_uv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH holding only the tools the Makefile's own shell calls need (awk), so `command -v uv` finds nothing."""
    bin_dir = tmp_path_factory.mktemp("bin")
    awk = shutil.which("awk")
    assert awk is not None
    (bin_dir / "awk").symlink_to(awk)
    return str(bin_dir)


def test_install_without_uv_bootstraps_the_locked_uv_into_the_venv_only(
    fresh_checkout: Path, path_without_uv: str
) -> None:
    # when: what `make install` would run (-n prints the commands without running them)
    done = subprocess.run(
        [MAKE, "-n", "install", f"PYTHON={sys.executable}"],
        cwd=fresh_checkout,
        env={"PATH": path_without_uv, "HOME": str(fresh_checkout)},
        capture_output=True,
        text=True,
        check=True,
    )

    # then: one venv, uv pip-installed into it at the locked version, and `uv sync` run from there
    venv = fresh_checkout / ".venv"
    assert done.stdout.splitlines() == [
        f"{sys.executable} -m venv {venv}",
        f"{venv}/bin/pip install --quiet --disable-pip-version-check uv=={_locked_uv_version()}",
        f"{venv}/bin/uv sync --all-packages --frozen",
        f"touch {venv}/.installed",
    ]
    assert ".uv/" not in done.stdout
