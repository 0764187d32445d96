"""The publisher against a real SQS-compatible HTTP endpoint (the moto server on loopback)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from sluice_cli.generate import generate_events
from sluice_shared.aws import sqs_client
from sluice_shared.catalog import default_registry
from sluice_shared.publisher import CORRELATION_ID_ATTRIBUTE, EventPublisher, EventResult, EventStatus
from sluice_shared.sqs import BatchSender
from tests.integration.ingest.drain import Drainer
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_sqs import SQSClient

MAX_BACKLOG = 20  # messages sent but not yet drained


def _publisher(endpoint: str, queue_url: str, **options: Any) -> EventPublisher:
    sender = BatchSender(queue_url, client=sqs_client(endpoint_url=endpoint))
    return EventPublisher(sender, registry=default_registry(), **options)


def _receive_all(client: SQSClient, queue_url: str, expected: int) -> list[dict[str, Any]]:
    with Drainer(client, queue_url, attributes=True) as drainer:
        drainer.wait_for(expected, timeout=60)
    return drainer.messages


def test_standard_queue_holds_exactly_the_valid_events_with_their_attributes(
    sqs_endpoint: str, sqs_client: SQSClient, unique_name: str
) -> None:
    queue_url = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"]
    valid = [event_dict() for _ in range(25)]
    invalid = [event_dict(occurred_at="2026-11-26T12:00:00"), {"event_type": "order.created"}]

    receipt = _publisher(sqs_endpoint, queue_url).publish([*valid[:10], *invalid, *valid[10:]], correlation_id="c-9")

    messages = _receive_all(sqs_client, queue_url, 25)
    assert len(receipt.queued) == 25
    assert [r.index for r in receipt.rejected] == [10, 11]
    assert sorted(json.loads(m["Body"])["event_id"] for m in messages) == sorted(e["event_id"] for e in valid)
    assert {m["MessageId"] for m in messages} == {r.message_id for r in receipt.queued}
    assert {m["MessageAttributes"][CORRELATION_ID_ATTRIBUTE]["StringValue"] for m in messages} == {"c-9"}
    assert (
        sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )


def test_fifo_queue_groups_by_the_configured_field_and_drops_a_resent_event(
    sqs_endpoint: str, sqs_client: SQSClient, unique_name: str
) -> None:
    queue_url = sqs_client.create_queue(QueueName=f"{unique_name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    events = [event_dict(payload={"order_id": "o-7", "reason": f"step {i}"}) for i in range(3)]
    publisher = _publisher(sqs_endpoint, queue_url, fifo_group_field="payload.order_id")

    first = publisher.publish(events)
    resent = publisher.publish([events[1]])  # a producer's retry within SQS's 5-minute deduplication window

    messages = _receive_all(sqs_client, queue_url, 3)
    assert first.ok
    assert resent.ok
    assert [json.loads(m["Body"])["payload"]["reason"] for m in messages] == ["step 0", "step 1", "step 2"]
    assert [m["Attributes"]["MessageGroupId"] for m in messages] == ["o-7"] * 3
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [e["event_id"] for e in events]


def test_a_missing_queue_fails_every_event_with_a_clear_error(sqs_endpoint: str) -> None:
    queue_url = f"{sqs_endpoint}/123456789012/does-not-exist"

    receipt = _publisher(sqs_endpoint, queue_url).publish([event_dict() for _ in range(3)])

    assert [r.status for r in receipt.results] == [EventStatus.FAILED] * 3
    assert {r.error.code for r in receipt.results if r.error} == {"queue_not_found"}


@pytest.mark.slow
def test_ten_thousand_events_are_all_accounted_for_while_draining(
    sqs_endpoint: str, sqs_client: SQSClient, unique_name: str
) -> None:
    # given: 10,000 generated events in one publish call, while a consumer thread keeps the queue shallow
    queue_url = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"]
    events = list(generate_events(10_000, seed=2026))
    publisher = _publisher(sqs_endpoint, queue_url)
    settled: list[EventResult] = []
    with Drainer(sqs_client, queue_url) as drainer:

        def keep_shallow(results: Sequence[EventResult]) -> None:
            # moto's cost per message grows with queue depth: let the consumer catch up as we go.
            settled.extend(results)
            drainer.wait_for(len(settled) - MAX_BACKLOG)

        receipt = publisher.publish(events, on_progress=keep_shallow)
        drainer.wait_for(len(events))

    drained = [body["event_id"] for body in drainer.bodies()]
    queued = [r.event_id for r in receipt.queued if r.event_id is not None]  # a queued event always has its id
    assert receipt.ok
    assert len(settled) == len(drained) == 10_000
    assert sorted(drained) == sorted(queued) == sorted(e["event_id"] for e in events)
