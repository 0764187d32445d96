"""cdk-nag AWS Solutions checks on the whole app: nothing unacknowledged, and nothing acknowledged for nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from sluice_cdk.config import stage_config
from sluice_cdk.stack import SluiceStack
from tests.unit.cdk.helpers import CDK_CONTEXT, inline_code

if TYPE_CHECKING:
    from aws_cdk import cx_api

BASIC: Final = "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
VPC_ACCESS: Final = "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]"
FUNCTIONS: Final = ("Consumer", "Migrations", "Ingest")
# What each stage accepts by design (see sluice_cdk.nag): construct path -> rule.
EVERY_STAGE: Final = {
    *((f"{function}/Function", BASIC) for function in FUNCTIONS),
    *((f"{function}/Function", "L1") for function in FUNCTIONS),
    *((f"{function}/Function", VPC_ACCESS) for function in ("Consumer", "Migrations")),
    ("Database/Instance", "RDS11"),
}
DEV_ONLY: Final = {("Database/Instance", "RDS3"), ("Database/Instance", "RDS10"), ("Database/Secret", "SMG4")}
# Prod traces with X-Ray, whose write actions support no resource-level permissions.
PROD_ONLY: Final = {(f"{function}/Function", "IAM5[Resource::*]") for function in FUNCTIONS}


def _report(directory: str) -> dict[str, Any]:
    (plugin,) = json.loads((Path(directory) / "validation-report.json").read_text())["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    return cast("dict[str, Any]", plugin)  # cdk-nag's report is untyped JSON


def test_every_stage_passes_with_each_acknowledgement_reasoned(assembly: cx_api.CloudAssembly) -> None:
    report = _report(assembly.directory)
    acknowledged = {
        (v["acknowledgedAt"], v["acknowledgedId"].removeprefix("AwsSolutions::AwsSolutions-"))
        for v in report["suppressedViolations"]
    }

    assert (report["conclusion"], report["violations"]) == ("success", [])
    assert acknowledged == {(f"Sluice-dev/{path}", rule) for path, rule in EVERY_STAGE | DEV_ONLY} | {
        (f"Sluice-prod/{path}", rule) for path, rule in EVERY_STAGE | PROD_ONLY
    }
    assert all(len(v["reason"]) > 80 for v in report["suppressedViolations"])


def test_unacknowledged_findings_fail_the_synth(tmp_path: Path) -> None:
    app = cdk.App(context=CDK_CONTEXT, outdir=str(tmp_path))
    SluiceStack(app, "Sluice-dev", config=stage_config("dev"), code=inline_code())  # no acknowledgements
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))

    with pytest.raises(RuntimeError, match=r"^ValidationFailed"):
        app.synth()

    report = _report(str(tmp_path))
    expected = EVERY_STAGE | DEV_ONLY
    found = {
        (_acknowledgement_for(c["constructPath"].removeprefix("Sluice-dev/"), rule, expected), rule)
        for v in report["violations"]
        for rule in [v["ruleName"].removeprefix("AwsSolutions-")]
        for c in v["violatingConstructs"]
    }
    assert report["conclusion"] == "failure"
    # Each acknowledgement answers a real finding: without them, exactly these fail.
    assert found == expected


def _acknowledgement_for(path: str, rule: str, expected: set[tuple[str, str]]) -> str | None:
    """The acknowledged construct covering the finding at ``path`` (None: nothing would cover it)."""
    return next((scope for scope, known in expected if known == rule and path.startswith(f"{scope}/")), None)
