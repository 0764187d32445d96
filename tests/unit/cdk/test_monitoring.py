"""Alarms on the named metrics, all notifying one TLS-only topic, and a dashboard."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from sluice_cdk.config import AlarmThresholds, ConnectionBudget
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


@pytest.fixture(scope="module")
def built() -> tuple[Template, dict[str, str]]:
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
        thresholds=AlarmThresholds(oldest_message_age_seconds=600),
        alarm_emails=("oncall@example.com",),
    )
    ids = {
        "queue": logical_id(stack, queue),
        "dlq": logical_id(stack, dlq),
        "consumer": logical_id(stack, functions["Consumer"]),
        "ingest": logical_id(stack, functions["Ingest"]),
        "topic": logical_id(stack, monitoring.topic),
    }
    return Template.from_stack(stack), ids


def _alarm(template: Template, metric: str, dimension: dict[str, Any]) -> dict[str, Any]:
    (alarm,) = template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": metric, "Dimensions": [dimension]}}
    ).values()
    return cast("dict[str, Any]", alarm["Properties"])  # the template is untyped JSON


@pytest.mark.parametrize(
    ("metric", "dimension", "operator", "threshold"),
    [
        ("ApproximateNumberOfMessagesVisible", ("QueueName", "dlq"), "GreaterThanThreshold", 0),
        ("ApproximateAgeOfOldestMessage", ("QueueName", "queue"), "GreaterThanThreshold", 600),
        ("Errors", ("FunctionName", "consumer"), "GreaterThanThreshold", 0),
        ("Throttles", ("FunctionName", "consumer"), "GreaterThanThreshold", 0),
        ("Errors", ("FunctionName", "ingest"), "GreaterThanThreshold", 0),
    ],
)
def test_alarm_watches_the_named_metric(
    built: tuple[Template, dict[str, str]], metric: str, dimension: tuple[str, str], operator: str, threshold: int
) -> None:
    template, ids = built
    name, resource = dimension
    value = {"Fn::GetAtt": [ids[resource], "QueueName"]} if name == "QueueName" else {"Ref": ids[resource]}

    alarm = _alarm(template, metric, {"Name": name, "Value": value})

    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["TreatMissingData"]) == (
        operator,
        threshold,
        "notBreaching",
    )
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": ids["topic"]}]


def test_proxy_connections_alarm_at_eighty_percent_of_the_budget(built: tuple[Template, dict[str, str]]) -> None:
    template, ids = built

    alarm = _alarm(template, "DatabaseConnections", {"Name": "ProxyName", "Value": "sluice-proxy"})

    assert alarm["Namespace"] == "AWS/RDS"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 72)  # ceil(90 x 0.8)
    assert alarm["AlarmActions"] == [{"Ref": ids["topic"]}]


def test_every_alarm_is_wired(built: tuple[Template, dict[str, str]]) -> None:
    template, _ = built

    assert len(template.find_resources("AWS::CloudWatch::Alarm")) == len(ALARMS)


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
    ):
        assert metric in body
