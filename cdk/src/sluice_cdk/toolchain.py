"""The tools a Lambda asset build runs: uv and an interpreter of the Lambda runtime's Python version."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sluice_cdk.asset_spec import BuildError
from sluice_cdk.config import LAMBDA_PYTHON_VERSION

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Toolchain", "find_target_python", "find_workspace_root"]


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
