"""``sluice dlq replay`` against the moto server, with real redrive policies."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

from sluice_shared.contract import parse_message
from sluice_shared.dead_letter import ATTRIBUTE_PREFIX
from sluice_shared.errors import UnknownEventTypeError
from tests.support.factories import event_body

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mypy_boto3_sqs import SQSClient

    from tests.integration.dlq.conftest import Queues, Result


def _event_ids(messages: list[dict[str, object]]) -> list[str]:
    return [json.loads(str(message["Body"]))["event_id"] for message in messages]


def test_replay_of_1000_with_filters_and_a_rate_limit_reconciles_exactly(
    queues: Queues, sluice: Callable[..., Result]
) -> None:
    # given: 600 invalid order.created, 300 unknown-type order.cancelled (consumer), 100 moved by SQS redrive
    created = [event_body(event_type="order.created") for _ in range(600)]
    cancelled = [event_body(event_type="order.cancelled") for _ in range(300)]
    redriven = [event_body(event_type="order.created") for _ in range(100)]
    queues.dead_letter(created)
    queues.dead_letter(cancelled, error=UnknownEventTypeError.single("event_type", "no model"))
    queues.redrive_by_sqs(redriven)
    assert queues.depth(queues.dlq_url) == 1000

    # when: only invalid order.created, at most 500 a second
    first = sluice(
        "dlq", "replay", "-q", queues.dlq_url, "--event-type", "order.created", "--error-type", "invalid_message",
        "--rate", "500",
    )  # fmt: skip

    # then
    assert first.status == 0, first.err
    assert first.out.splitlines()[0] == "replayed 600, skipped by filter 400, failed 0 (of 1000 read)"
    replayed = queues.drain(queues.source_url)
    assert Counter(_event_ids(replayed)) == Counter(json.loads(body)["event_id"] for body in created)
    assert all(not name.startswith(ATTRIBUTE_PREFIX) for m in replayed for name in m.get("MessageAttributes", {}))
    assert queues.depth(queues.dlq_url) == 400

    # when: the 100 moved by SQS (no reason, one source queue) with a limit, then the rest by age
    second = sluice("dlq", "replay", "-q", queues.dlq_url, "--error-type", "max_receive_count_exceeded", "-n", "60")
    third = sluice("dlq", "replay", "-q", queues.dlq_url, "--older-than", "0s", "--rate", "200")

    # then
    assert second.out.splitlines()[0].startswith("replayed 60, skipped by filter ")
    assert third.out.splitlines()[0] == "replayed 340, skipped by filter 0, failed 0 (of 340 read)"
    rest = _event_ids(queues.drain(queues.source_url))
    expected = [json.loads(body)["event_id"] for body in cancelled + redriven]
    assert Counter(rest) == Counter(expected)
    assert queues.depth(queues.dlq_url) == 0


def test_dry_run_counts_and_moves_nothing(queues: Queues, sluice: Callable[..., Result]) -> None:
    queues.dead_letter([event_body() for _ in range(15)])

    result = sluice("dlq", "replay", "-q", queues.dlq_url, "--dry-run", "--where", "payload.order_id == 'o-1'")

    assert result.status == 0
    assert result.out.splitlines()[0] == "dry run: 15 would be replayed, skipped by filter 0, failed 0 (of 15 read)"
    assert queues.depth(queues.source_url) == 0
    assert queues.depth(queues.dlq_url) == 15


def test_replay_to_another_queue_keeps_original_attributes(
    queues: Queues, sluice: Callable[..., Result], sqs_client: SQSClient, unique_name: str
) -> None:
    other = sqs_client.create_queue(QueueName=f"{unique_name}-other")["QueueUrl"]
    attributes = {
        "trace": {"DataType": "String", "StringValue": "abc"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "n": {"DataType": "Number", "StringValue": "42"},
    }
    queues.dead_letter([event_body()], attributes=attributes)

    result = sluice("dlq", "replay", "-q", queues.dlq_url, "--to", f"{unique_name}-other")

    assert result.status == 0
    [message] = queues.drain(other)
    assert message["MessageAttributes"] == {
        "trace": {"DataType": "String", "StringValue": "abc"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "n": {"DataType": "Number", "StringValue": "42"},
    }


def test_fifo_replay_keeps_group_order(
    queue_factory: Callable[..., Queues], unique_name: str, sluice: Callable[..., Result]
) -> None:
    # given: three groups interleaved, ten messages each, dead-lettered in order
    fifo = queue_factory(unique_name, fifo=True)
    order = [(group, n) for n in range(10) for group in ("a", "b", "c")]
    bodies = [event_body(payload={"group": group, "n": n}) for group, n in order]
    fifo.dead_letter(bodies, group_ids=[group for group, _ in order])

    # when
    result = sluice("dlq", "replay", "-q", fifo.dlq_url, "--rate", "50")

    # then
    assert result.status == 0, result.err
    assert result.out.splitlines()[0] == "replayed 30, skipped by filter 0, failed 0 (of 30 read)"
    replayed = fifo.drain(fifo.source_url)
    by_group: dict[str, list[int]] = {}
    for message in replayed:
        assert message["Attributes"]["MessageGroupId"] == json.loads(message["Body"])["payload"]["group"]
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(
            json.loads(message["Body"])["payload"]["n"]
        )
    assert by_group == {group: list(range(10)) for group in ("a", "b", "c")}
    assert len({message["Attributes"]["MessageDeduplicationId"] for message in replayed}) == 30


def test_archive_holds_every_replayed_body_and_sluice_push_sends_it_again(
    queues: Queues, sluice: Callable[..., Result], tmp_path: Path, sqs_client: SQSClient, unique_name: str
) -> None:
    # given
    bodies = [event_body() for _ in range(12)]
    queues.dead_letter(bodies)
    archive = tmp_path / "replayed.jsonl"

    # when
    result = sluice("dlq", "replay", "-q", queues.dlq_url, "--archive", str(archive))

    # then: one line per replayed body, exactly as received, valid under the contract
    assert result.status == 0
    lines = archive.read_text(encoding="utf-8").splitlines()
    assert sorted(lines) == sorted(bodies)
    assert sorted(str(parse_message(line).event_id) for line in lines) == sorted(_event_ids_of(bodies))

    # and: `sluice push` reads the archive back and sends every event again
    again = sqs_client.create_queue(QueueName=f"{unique_name}-again")["QueueUrl"]
    pushed = sluice("push", str(archive), "--queue-url", again)
    assert pushed.status == 0, pushed.err
    assert sorted(_event_ids(queues.drain(again))) == sorted(_event_ids_of(bodies))


def _event_ids_of(bodies: list[str]) -> list[str]:
    return [json.loads(body)["event_id"] for body in bodies]


def test_failed_sends_stay_in_the_dlq_and_fail_the_run(
    queues: Queues, sluice: Callable[..., Result], sqs_client: SQSClient
) -> None:
    # given: the recorded source queue was deleted since
    queues.dead_letter([event_body() for _ in range(3)])
    sqs_client.delete_queue(QueueUrl=queues.source_url)

    # when
    result = sluice("dlq", "replay", "-q", queues.dlq_url)

    # then
    assert result.status == 1
    lines = result.out.splitlines()
    assert lines[0] == "replayed 0, skipped by filter 0, failed 3 (of 3 read)"
    assert lines[1].startswith(f"  failed x3: queue '{queues.source_arn}' does not exist")
    assert queues.depth(queues.dlq_url) == 3
    assert len(queues.drain(queues.dlq_url)) == 3  # visible again at once
