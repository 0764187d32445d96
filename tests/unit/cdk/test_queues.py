"""Queue and DLQ: redrive, visibility timeout rule, retention, encryption and the TLS-only policy."""

from __future__ import annotations

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk.assertions import Match, Template

from sluice_cdk.queues import Queues
from sluice_shared.errors import ConfigurationError
from sluice_shared.topology import QueueTopology
from tests.unit.cdk.helpers import empty_stack

FOUR_DAYS = 4 * 24 * 3600
FOURTEEN_DAYS = 14 * 24 * 3600


@pytest.fixture(scope="module")
def template() -> Template:
    stack = empty_stack()
    topology = QueueTopology(consumer_timeout_seconds=60, batching_window_seconds=2, max_receive_count=7)
    Queues(stack, "Queues", topology=topology, retention_seconds=FOUR_DAYS, removal_policy=RemovalPolicy.DESTROY)
    return Template.from_stack(stack)


def _queues(template: Template) -> dict[str, dict[str, object]]:
    return {name: resource["Properties"] for name, resource in template.find_resources("AWS::SQS::Queue").items()}


def test_source_queue_redrives_to_the_dlq_after_max_receive_count(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [Match.string_like_regexp("^QueuesDeadLetterQueue"), "Arn"]},
                "maxReceiveCount": 7,
            },
            "MessageRetentionPeriod": FOUR_DAYS,
        },
    )


def test_visibility_timeout_is_six_times_the_consumer_timeout_plus_the_window(template: Template) -> None:
    template.has_resource_properties("AWS::SQS::Queue", {"RedrivePolicy": Match.any_value(), "VisibilityTimeout": 362})


def test_dead_letter_queue_keeps_messages_fourteen_days(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue", {"MessageRetentionPeriod": FOURTEEN_DAYS, "RedrivePolicy": Match.absent()}
    )


def test_both_queues_use_server_side_encryption(template: Template) -> None:
    queues = _queues(template)

    assert len(queues) == 2
    assert {name: properties.get("SqsManagedSseEnabled") for name, properties in queues.items()} == dict.fromkeys(
        queues, True
    )


def test_both_queues_deny_any_request_without_tls(template: Template) -> None:
    policies = template.find_resources("AWS::SQS::QueuePolicy")
    protected = []
    for policy in policies.values():
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement == {
            "Action": "sqs:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": statement["Resource"],
        }
        protected += [queue["Ref"] for queue in policy["Properties"]["Queues"]]

    assert sorted(protected) == sorted(_queues(template))


def test_visibility_timeout_below_the_rule_fails_at_synth_time() -> None:
    stack = empty_stack()
    topology = QueueTopology(consumer_timeout_seconds=60, batching_window_seconds=2, visibility_timeout_seconds=120)

    with pytest.raises(ConfigurationError, match=r"visibility timeout 120 s is below 6 x consumer timeout"):
        Queues(stack, "Queues", topology=topology, retention_seconds=FOUR_DAYS, removal_policy=RemovalPolicy.DESTROY)
