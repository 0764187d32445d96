"""Dependency vulnerability audit of the locked requirements, honest about whether it could run at all.

``python -m tools.audit [--uv PATH]`` (``make audit``) exports the locked dependency closure of every
workspace package (``uv export --frozen --all-packages --no-dev --no-emit-workspace``: what the functions, the CLI
and the CDK app install), runs ``pip-audit`` on it (fully pinned and hashed, so ``--no-deps --disable-pip``) and
prints one summary line. Exit status:

- 0: every locked package was audited and none has a known vulnerability;
- 1: known vulnerabilities (each listed with the versions that fix it);
- 2: the audit could not be prepared (uv or pip-audit missing, ``uv.lock`` out of date);
- 3: the audit could not run, or not completely: the vulnerability service was unreachable, or it answered for
  none (or only some) of the packages.

Why 3 exists: with PyPI's JSON API unreachable or answering 404 (as on networks that reach only PyPI's simple
index), pip-audit skips every package ("Dependency not found on PyPI and could not be audited"), prints "No known
vulnerabilities found" and exits 0. That is not a pass, and this script does not report it as one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Final

__all__ = ["AuditOutcome", "ExitStatus", "classify", "main"]

ROOT: Final = Path(__file__).resolve().parents[1]
EXPORT: Final = (
    "export",
    "--frozen",
    "--all-packages",
    "--no-dev",
    "--no-emit-workspace",
    "--format",
    "requirements-txt",
)
# Listed at most: the summary must stay readable in a CI log.
MAX_LISTED: Final = 20
Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


class ExitStatus(IntEnum):
    """The script's exit status (see the module docstring)."""

    CLEAN = 0
    VULNERABLE = 1
    NOT_PREPARED = 2
    DID_NOT_RUN = 3


@dataclass(frozen=True)
class AuditOutcome:
    """The verdict, its one-line summary, and the details printed under it."""

    status: ExitStatus
    summary: str
    details: tuple[str, ...] = ()


def classify(report: dict[str, Any] | None, *, error: str = "") -> AuditOutcome:
    """The verdict on a pip-audit JSON report (``None``: pip-audit wrote none; ``error``: its last error line)."""
    if report is None:
        return AuditOutcome(
            ExitStatus.DID_NOT_RUN,
            f"audit did not run: pip-audit stopped before reporting ({error or 'no error text'})",
        )
    dependencies: list[dict[str, Any]] = report.get("dependencies", [])
    vulnerable = [dependency for dependency in dependencies if dependency.get("vulns")]
    skipped = [dependency for dependency in dependencies if "skip_reason" in dependency]
    audited = len(dependencies) - len(skipped)
    if vulnerable:
        details = tuple(
            f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {_fixes(vuln)})"
            for dependency in vulnerable
            for vuln in dependency["vulns"]
        )
        return AuditOutcome(
            ExitStatus.VULNERABLE,
            f"audit found {len(details)} known vulnerabilities in {len(vulnerable)} of {audited} audited packages",
            details[:MAX_LISTED],
        )
    if not dependencies:
        return AuditOutcome(ExitStatus.DID_NOT_RUN, "audit did not run: the requirements listed no package")
    if skipped:
        reason = str(skipped[0]["skip_reason"])
        names = tuple(f"{dependency['name']}: {dependency['skip_reason']}" for dependency in skipped[:MAX_LISTED])
        if audited == 0:
            return AuditOutcome(
                ExitStatus.DID_NOT_RUN,
                f"audit could not run: the vulnerability service answered for none of the {len(dependencies)} locked "
                f"packages (is it reachable from here?); pip-audit: {reason}",
            )
        return AuditOutcome(
            ExitStatus.DID_NOT_RUN,
            f"audit incomplete: {len(skipped)} of {len(dependencies)} locked packages could not be audited; none of "
            f"the other {audited} has a known vulnerability",
            names,
        )
    return AuditOutcome(ExitStatus.CLEAN, f"audit: no known vulnerabilities in {audited} locked packages")


def _fixes(vuln: dict[str, Any]) -> str:
    return ", ".join(vuln.get("fix_versions", [])) or "no release yet"


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=ROOT, capture_output=True, text=True, check=False)


def audit(*, uv: str, pip_audit: str, service: str, timeout: int, run: Runner = _run) -> AuditOutcome:
    """Export the locked requirements with ``uv`` and audit them with ``pip_audit``."""
    exported = run([uv, *EXPORT])
    if exported.returncode != 0:
        return AuditOutcome(
            ExitStatus.NOT_PREPARED, f"audit not prepared: uv export failed: {_last_line(exported.stderr)}"
        )
    with tempfile.TemporaryDirectory(prefix="sluice-audit-") as directory:
        requirements = Path(directory) / "requirements.txt"
        requirements.write_text(exported.stdout, encoding="utf-8")
        report_path = Path(directory) / "report.json"
        checked = run(
            [
                pip_audit,
                "--requirement",
                str(requirements),
                "--no-deps",  # every line is pinned with hashes: nothing to resolve
                "--disable-pip",
                "--progress-spinner",
                "off",
                "--vulnerability-service",
                service,
                "--timeout",
                str(timeout),
                "--format",
                "json",
                "--output",
                str(report_path),
            ]
        )
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    if report is None or checked.returncode not in {0, 1}:
        return classify(None, error=_last_line(checked.stderr))
    return classify(report)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _default_uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - the uv package in the dev environment, when installed

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


def main(argv: Sequence[str] | None = None, *, run: Runner = _run) -> int:
    """Run the audit; print the summary (stdout) and details; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default=None, help="uv binary (default: uv on PATH, else the uv package)")
    parser.add_argument("--pip-audit", default=str(Path(sys.executable).with_name("pip-audit")))
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi", help="vulnerability service")
    parser.add_argument("--timeout", type=int, default=15, help="seconds per request to the service")
    options = parser.parse_args(argv)
    uv = options.uv or _default_uv()
    if uv is None or (run is _run and not Path(options.pip_audit).is_file()):
        missing = "uv" if uv is None else f"pip-audit ({options.pip_audit})"
        outcome = AuditOutcome(ExitStatus.NOT_PREPARED, f"audit not prepared: {missing} not found; run `make install`")
    else:
        outcome = audit(uv=uv, pip_audit=options.pip_audit, service=options.service, timeout=options.timeout, run=run)
    print(outcome.summary)
    for line in outcome.details:
        print(f"  {line}")
    return int(outcome.status)


if __name__ == "__main__":
    sys.exit(main())
