"""The dependency audit's verdicts (``tools/audit.py``), over pip-audit reports and fake runs.

The point of the script: a report in which pip-audit skipped every package (the vulnerability service unreachable
or answering 404) is "could not run" (exit 3), never the pass pip-audit itself reports.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tools.audit import EXPORT, ExitStatus, classify, main

if TYPE_CHECKING:
    from collections.abc import Sequence

SKIPPED = "Dependency not found on PyPI and could not be audited: psycopg (3.3.1)"


def report(*dependencies: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": list(dependencies), "fixes": []}


def clean(name: str) -> dict[str, Any]:
    return {"name": name, "version": "1.0", "vulns": []}


def skipped(name: str) -> dict[str, Any]:
    return {"name": name, "skip_reason": SKIPPED}


def vulnerable(name: str, *ids: str) -> dict[str, Any]:
    return {"name": name, "version": "1.0", "vulns": [{"id": i, "fix_versions": ["1.1"], "aliases": []} for i in ids]}


def test_every_package_audited_and_clean_passes() -> None:
    outcome = classify(report(clean("psycopg"), clean("pydantic")))

    assert (outcome.status, outcome.summary) == (
        ExitStatus.CLEAN,
        "audit: no known vulnerabilities in 2 locked packages",
    )


def test_every_package_skipped_is_not_a_pass_but_could_not_run() -> None:
    outcome = classify(report(skipped("psycopg"), skipped("pydantic")))

    assert outcome.status is ExitStatus.DID_NOT_RUN
    assert outcome.summary.startswith("audit could not run: the vulnerability service answered for none of the 2 ")
    assert SKIPPED in outcome.summary


def test_some_packages_skipped_is_an_incomplete_audit_naming_them() -> None:
    outcome = classify(report(clean("pydantic"), skipped("psycopg")))

    assert outcome.status is ExitStatus.DID_NOT_RUN
    assert outcome.summary.startswith("audit incomplete: 1 of 2 locked packages could not be audited")
    assert outcome.details == (f"psycopg: {SKIPPED}",)


def test_known_vulnerabilities_fail_and_are_listed_even_when_others_were_skipped() -> None:
    outcome = classify(report(vulnerable("jinja2", "PYSEC-1", "GHSA-2"), skipped("psycopg"), clean("pydantic")))

    assert outcome.status is ExitStatus.VULNERABLE
    assert outcome.summary == "audit found 2 known vulnerabilities in 1 of 2 audited packages"
    assert outcome.details == ("jinja2 1.0: PYSEC-1 (fixed in 1.1)", "jinja2 1.0: GHSA-2 (fixed in 1.1)")


def test_no_report_at_all_could_not_run_with_pip_audits_error() -> None:
    outcome = classify(None, error="requests.exceptions.ConnectionError: Failed to resolve 'api.osv.dev'")

    assert outcome.status is ExitStatus.DID_NOT_RUN
    assert "Failed to resolve 'api.osv.dev'" in outcome.summary


class FakeTools:
    """Stands for uv and pip-audit: uv prints requirements; pip-audit writes ``report`` or fails with ``error``."""

    def __init__(self, *, report: dict[str, Any] | None, error: str = "", export_fails: bool = False) -> None:
        self.report = report
        self.error = error
        self.export_fails = export_fails
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(command))
        if command[0] == "uv":
            if self.export_fails:
                return subprocess.CompletedProcess(command, 2, "", "error: The lockfile needs to be updated\n")
            return subprocess.CompletedProcess(command, 0, "psycopg==3.3.1 \\\n    --hash=sha256:00\n", "")
        if self.report is None:
            return subprocess.CompletedProcess(command, 1, "", f"Traceback ...\n{self.error}\n")
        output = Path(command[command.index("--output") + 1])
        output.write_text(json.dumps(self.report), encoding="utf-8")
        return subprocess.CompletedProcess(command, 0, "No known vulnerabilities found\n", "")


@pytest.mark.parametrize(
    ("tools", "status", "first_line"),
    [
        (FakeTools(report=report(clean("psycopg"))), 0, "audit: no known vulnerabilities in 1 locked packages"),
        (FakeTools(report=report(vulnerable("psycopg", "PYSEC-9"))), 1, "audit found 1 known vulnerabilities"),
        (FakeTools(report=report(skipped("psycopg"))), 3, "audit could not run: the vulnerability service"),
        (FakeTools(report=None, error="ConnectionError: no route"), 3, "audit did not run: pip-audit stopped"),
        (FakeTools(report=None, export_fails=True), 2, "audit not prepared: uv export failed: error: The lockfile"),
    ],
)
def test_main_prints_one_summary_line_and_exits_with_the_verdict(
    tools: FakeTools, status: int, first_line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--uv", "uv", "--pip-audit", "pip-audit"], run=tools) == status

    assert capsys.readouterr().out.splitlines()[0].startswith(first_line)
    assert tools.commands[0] == ["uv", *EXPORT]


def test_pip_audit_is_run_on_the_exported_hashed_requirements_without_resolving() -> None:
    tools = FakeTools(report=report(clean("psycopg")))

    main(["--uv", "uv", "--pip-audit", "pip-audit", "--service", "osv", "--timeout", "5"], run=tools)

    command = tools.commands[1]
    assert command[0] == "pip-audit"
    assert {"--no-deps", "--disable-pip"} <= set(command)
    assert command[command.index("--vulnerability-service") + 1] == "osv"
    assert command[command.index("--timeout") + 1] == "5"
