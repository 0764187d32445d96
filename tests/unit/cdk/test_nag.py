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
from tests.unit.cdk.test_stack import policy_statements

if TYPE_CHECKING:
    from aws_cdk import cx_api

NETWORK_INTERFACES: Final = "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*"
FUNCTIONS: Final = ("Consumer", "Migrations", "Ingest")
VPC_FUNCTIONS: Final = ("Consumer", "Migrations")
# What each stage accepts by design (see sluice_cdk.nag): construct path -> rule. No managed policy is left.
EVERY_STAGE: Final = {
    *((f"{function}/Function", "L1") for function in FUNCTIONS),
    *((f"{function}/FunctionRole", f"IAM5[Resource::{NETWORK_INTERFACES}]") for function in VPC_FUNCTIONS),
    *((f"{function}/FunctionRole", "IAM5[Resource::*]") for function in VPC_FUNCTIONS),
    ("Database/Instance", "RDS11"),
}
DEV_ONLY: Final = {("Database/Instance", "RDS3"), ("Database/Instance", "RDS10"), ("Database/Secret", "SMG4")}
# Prod traces with X-Ray, whose write actions support no resource-level permissions.
PROD_ONLY: Final = {("Ingest/FunctionRole", "IAM5[Resource::*]")}


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


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_each_wildcard_acknowledgement_names_exactly_the_actions_it_excuses(
    stage: str, assembly: cx_api.CloudAssembly, request: pytest.FixtureRequest
) -> None:
    template = request.getfixturevalue(f"{stage}_template")
    reasons = {
        (v["acknowledgedAt"].removeprefix(f"Sluice-{stage}/"), v["acknowledgedId"].split("IAM5[Resource::")[1][:-1]): v[
            "reason"
        ]
        for v in _report(assembly.directory)["suppressedViolations"]
        if v["acknowledgedAt"].startswith(f"Sluice-{stage}/") and "IAM5[" in v["acknowledgedId"]
    }
    covers = {"*": lambda arn: arn == "*", NETWORK_INTERFACES: lambda arn: arn.endswith(":network-interface/*")}

    for (path, resource), reason in reasons.items():
        function = path.split("/")[0]
        excused = {
            action
            for statement in policy_statements(template, function)
            for action in _listed(statement["Action"])
            if any(covers[resource](_render(arn)) for arn in _listed(statement["Resource"]))
        }
        assert excused, (path, resource)
        assert {action for action in excused if action not in reason} == set(), (path, resource)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _render(value: Any) -> str:
    """An ARN as text: literal parts kept, every other intrinsic as ``<token>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(_render(part) for part in value["Fn::Join"][1])
    return "<token>"
