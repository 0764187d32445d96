"""The composed stacks as an operator meets them: alarms that can fire and reach someone, logs that are kept for
the stage's retention (CDK's own functions included), traces that leave an isolated VPC, no AWS managed policy."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import pytest

from sluice_cdk.app import create_app
from sluice_cdk.config import STAGES
from sluice_shared.errors import ConfigurationError
from tests.unit.cdk.helpers import ALARM_EMAIL, CDK_CONTEXT, inline_code

if TYPE_CHECKING:
    from pathlib import Path

    from aws_cdk.assertions import Template

MICROSECONDS_PER_SECOND: Final = 1_000_000


def _ceilings(stage: str, template: Template) -> dict[str, float]:
    """The most each alarmed metric can reach under the stage's configuration (math.inf: no bound).

    Computed here from the configuration's own numbers and the template's event source, not from the code that
    chose the thresholds.
    """
    config = STAGES[stage]
    ((mapping),) = template.find_resources("AWS::Lambda::EventSourceMapping").values()
    environments = mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    # Every consumer environment holds its connections; migrations and operators hold the reserved ones.
    clients = environments * config.database.connections_per_environment + config.database.reserved_connections
    return {
        "ApproximateNumberOfMessagesVisible": math.inf,  # every dead-lettered message counts
        "ApproximateAgeOfOldestMessage": config.queue_retention_seconds,  # older messages are deleted
        "Errors": math.inf,
        "Throttles": math.inf,
        "ClientConnections": clients,
        "DatabaseConnectionsCurrentlySessionPinned": clients,  # at most one pinned session per client
        # A borrow either succeeds or fails at the proxy's borrow timeout.
        "DatabaseConnectionsBorrowLatency": config.database.proxy_borrow_timeout_seconds * MICROSECONDS_PER_SECOND,
    }


def test_every_alarm_threshold_is_reachable_from_the_stages_configuration(staged: tuple[str, Template]) -> None:
    stage, template = staged
    ceilings = _ceilings(stage, template)
    alarms = [alarm["Properties"] for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()]
    unreachable = []

    for alarm in alarms:
        ceiling, threshold = ceilings[alarm["MetricName"]], alarm["Threshold"]
        # ">" fires on ceiling > threshold, ">=" on ceiling >= threshold; counts also need a first occurrence.
        fires = ceiling > threshold if alarm["ComparisonOperator"] == "GreaterThanThreshold" else ceiling >= threshold
        if not fires or threshold < 0:
            unreachable.append((alarm["MetricName"], threshold, ceiling))

    assert unreachable == []
    assert len(alarms) == 8
    # The proxy's database connections are bounded by its clients (15 dev, 110 prod), far below what it may open.
    assert "DatabaseConnections" not in {alarm["MetricName"] for alarm in alarms}


def test_proxy_alarms_watch_clients_pinning_and_borrow_latency_against_the_budget(staged: tuple[str, Template]) -> None:
    stage, template = staged
    by_metric = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    clients = _ceilings(stage, template)["ClientConnections"]

    assert (stage, clients) in {("dev", 15), ("prod", 110)}
    assert by_metric["ClientConnections"]["Threshold"] == math.ceil(clients * 0.8)
    assert (
        by_metric["DatabaseConnectionsCurrentlySessionPinned"]["Threshold"],
        by_metric["DatabaseConnectionsCurrentlySessionPinned"]["ComparisonOperator"],
    ) == (0, "GreaterThanThreshold")
    assert by_metric["DatabaseConnectionsBorrowLatency"]["Threshold"] == 1_000_000  # 1 s, in microseconds
    # Missing data is not "OK" for the dead-letter queue: SQS stops reporting an idle queue.
    assert by_metric["ApproximateNumberOfMessagesVisible"]["TreatMissingData"] == "ignore"


def test_alarms_reach_the_configured_destination(staged: tuple[str, Template]) -> None:
    _stage, template = staged
    (topic,) = template.find_resources("AWS::SNS::Topic")
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()

    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": ALARM_EMAIL})
    assert all(alarm["Properties"]["AlarmActions"] == [{"Ref": topic}] for alarm in alarms)
    assert template.to_json()["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": topic}


def test_prod_does_not_synthesize_without_an_alarm_destination() -> None:
    with pytest.raises(ConfigurationError, match="stage prod has no alarm destination"):
        create_app(context=CDK_CONTEXT, code=inline_code)


def test_prod_synthesizes_with_alarms_going_nowhere_when_told_so(tmp_path: Path) -> None:
    context = {**CDK_CONTEXT, "sluice:stages": "prod", "sluice:alarm-destination": "none"}

    assembly = create_app(context=context, code=inline_code, outdir=str(tmp_path)).synth()

    template = assembly.get_stack_by_name("Sluice-prod").template
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert [alarm["Properties"].get("AlarmActions") for alarm in alarms] == [None] * 8
    assert "AlarmTopicArn" not in template["Outputs"]


def test_every_function_logs_to_a_group_with_the_stages_retention(staged: tuple[str, Template]) -> None:
    stage, template = staged
    groups = template.find_resources("AWS::Logs::LogGroup")
    functions = template.find_resources("AWS::Lambda::Function")
    retention = STAGES[stage].log_retention_days
    named = {group["Properties"].get("LogGroupName"): name for name, group in groups.items()}

    for name, function in functions.items():
        group = function["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        assert group in groups, name
        assert groups[group]["Properties"]["RetentionInDays"] == retention, name
    # CDK's own providers are among them (the trigger's and the default security group's).
    assert sum(not str(f["Properties"].get("Handler", "")).startswith("sluice_") for f in functions.values()) == 2
    # The rotation function is deployed by a SAR application; its log group exists before it does.
    for application in template.find_resources("AWS::Serverless::Application").values():
        group = named[f"/aws/lambda/{application['Properties']['Parameters']['functionName']}"]
        assert groups[group]["Properties"]["RetentionInDays"] == retention
        assert group in application["DependsOn"]


def test_no_role_carries_an_aws_managed_policy_and_each_function_writes_only_its_own_logs(
    staged: tuple[str, Template],
) -> None:
    _stage, template = staged
    roles = template.find_resources("AWS::IAM::Role")
    policies = template.find_resources("AWS::IAM::Policy")

    assert {name: role["Properties"].get("ManagedPolicyArns") for name, role in roles.items()} == dict.fromkeys(roles)
    for name, function in template.find_resources("AWS::Lambda::Function").items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        log_resources = [
            statement["Resource"]
            for policy in policies.values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if "logs:PutLogEvents" in _actions(statement)
        ]
        assert log_resources == [{"Fn::GetAtt": [group, "Arn"]}], name


def test_prod_traces_leave_the_isolated_vpc_through_an_xray_endpoint(
    prod_template: Template, dev_template: Template
) -> None:
    def services(template: Template) -> set[str]:
        return {
            endpoint["Properties"]["ServiceName"]["Fn::Join"][1][-1].removeprefix(".")
            for endpoint in template.find_resources("AWS::EC2::VPCEndpoint").values()
        }

    assert (STAGES["prod"].tracing, STAGES["prod"].network.value) == (True, "endpoints")
    assert services(prod_template) == {"sqs", "secretsmanager", "xray"}
    assert services(dev_template) == {"sqs", "secretsmanager"}  # dev does not trace


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)
