"""Alarms on the named metrics, all notifying one TLS-only topic, and a dashboard."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from sluice_cdk.config import AlarmDestination, AlarmThresholds, ConnectionBudget
from sluice_cdk.lambdas import RUNTIME
from sluice_cdk.monitoring import ALARMS, Monitoring
from tests.unit.cdk.helpers import HANDLER_SOURCE, empty_stack, logical_id

BUDGET = ConnectionBudget(
    max_connections=100,
    max_connections_percent=90,
    reserved_connections=5,
    connections_per_environment=1,
    concurrency_cap=10,
)


def _build(destination: AlarmDestination) -> tuple[Template, dict[str, str]]:
    stack = empty_stack()
    queue, dlq = sqs.Queue(stack, "Queue"), sqs.Queue(stack, "Dlq")
    functions = {
        name: lambda_.Function(
            stack, name, runtime=RUNTIME, handler="index.lambda_handler", code=lambda_.Code.from_inline(HANDLER_SOURCE)
        )
        for name in ("Consumer", "Ingest")
    }
    monitoring = Monitoring(
        stack,
        "Monitoring",
        queue=queue,
        dead_letter_queue=dlq,
        consumer=functions["Consumer"],
        ingest=functions["Ingest"],
        proxy_name="sluice-proxy",
        budget=BUDGET,
        thresholds=AlarmThresholds(oldest_message_age_seconds=600, borrow_latency_ms=2_000),
        destination=destination,
    )
    ids = {
        "queue": logical_id(stack, queue),
        "dlq": logical_id(stack, dlq),
        "consumer": logical_id(stack, functions["Consumer"]),
        "ingest": logical_id(stack, functions["Ingest"]),
    }
    if isinstance(monitoring.topic, sns.Topic):
        ids["topic"] = logical_id(stack, monitoring.topic)
    return Template.from_stack(stack), ids


@pytest.fixture(scope="module")
def built() -> tuple[Template, dict[str, str]]:
    return _build(AlarmDestination(emails=("oncall@example.com",)))


def _alarm(template: Template, metric: str, dimension: dict[str, Any]) -> dict[str, Any]:
    (alarm,) = template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": metric, "Dimensions": [dimension]}}
    ).values()
    return cast("dict[str, Any]", alarm["Properties"])  # the template is untyped JSON


@pytest.mark.parametrize(
    ("metric", "dimension", "expected"),
    [
        # Missing data keeps the DLQ alarm as it was: SQS stops reporting a queue nobody touches, messages or not.
        ("ApproximateNumberOfMessagesVisible", ("QueueName", "dlq"), ("GreaterThanThreshold", 0, "ignore")),
        ("ApproximateAgeOfOldestMessage", ("QueueName", "queue"), ("GreaterThanThreshold", 600, "notBreaching")),
        ("Errors", ("FunctionName", "consumer"), ("GreaterThanThreshold", 0, "notBreaching")),
        ("Throttles", ("FunctionName", "consumer"), ("GreaterThanThreshold", 0, "notBreaching")),
        ("Errors", ("FunctionName", "ingest"), ("GreaterThanThreshold", 0, "notBreaching")),
    ],
)
def test_alarm_watches_the_named_metric(
    built: tuple[Template, dict[str, str]], metric: str, dimension: tuple[str, str], expected: tuple[str, int, str]
) -> None:
    template, ids = built
    name, resource = dimension
    value = {"Fn::GetAtt": [ids[resource], "QueueName"]} if name == "QueueName" else {"Ref": ids[resource]}

    alarm = _alarm(template, metric, {"Name": name, "Value": value})

    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["TreatMissingData"]) == expected
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": ids["topic"]}]


@pytest.mark.parametrize(
    ("metric", "operator", "threshold", "periods"),
    [
        # 80 % of the client capacity: 10 consumer environments (the cap) + 5 reserved = 15 -> 12.
        ("ClientConnections", "GreaterThanOrEqualToThreshold", 12, 5),
        ("DatabaseConnectionsCurrentlySessionPinned", "GreaterThanThreshold", 0, 1),
        ("DatabaseConnectionsBorrowLatency", "GreaterThanOrEqualToThreshold", 2_000_000, 5),  # microseconds
    ],
)
def test_proxy_alarms_watch_what_the_budget_can_breach(
    built: tuple[Template, dict[str, str]], metric: str, operator: str, threshold: int, periods: int
) -> None:
    template, ids = built

    alarm = _alarm(template, metric, {"Name": "ProxyName", "Value": "sluice-proxy"})

    assert (alarm["Namespace"], alarm["Statistic"]) == ("AWS/RDS", "Maximum")
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (
        operator,
        threshold,
        periods,
    )
    assert alarm["AlarmActions"] == [{"Ref": ids["topic"]}]


def test_every_alarm_is_wired(built: tuple[Template, dict[str, str]]) -> None:
    template, _ = built

    assert len(template.find_resources("AWS::CloudWatch::Alarm")) == len(ALARMS)


def test_alarms_can_go_to_an_existing_topic() -> None:
    arn = "arn:aws:sns:eu-west-1:123456789012:ops"
    template, _ = _build(AlarmDestination(topic_arn=arn))
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()

    assert template.find_resources("AWS::SNS::Topic") == {}
    assert {str(alarm["Properties"]["AlarmActions"]) for alarm in alarms} == {str([arn])}


def test_alarms_said_to_go_nowhere_have_no_actions_and_no_topic() -> None:
    template, _ = _build(AlarmDestination(nowhere=True))
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()

    assert template.find_resources("AWS::SNS::Topic") == {}
    assert [alarm["Properties"].get("AlarmActions") for alarm in alarms] == [None] * len(ALARMS)


def test_topic_accepts_only_tls_and_mails_the_subscribers(built: tuple[Template, dict[str, str]]) -> None:
    template, ids = built
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": {"Ref": ids["topic"]}},
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_dashboard_shows_queues_functions_and_proxy(built: tuple[Template, dict[str, str]]) -> None:
    template, _ = built
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])

    for metric in (
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Invocations",
        "Throttles",
        "Duration",
        "DatabaseConnections",
        "ClientConnections",
        "DatabaseConnectionsCurrentlySessionPinned",
        "DatabaseConnectionsBorrowLatency",
    ):
        assert metric in body
