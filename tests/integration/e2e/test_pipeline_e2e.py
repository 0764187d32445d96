"""The whole local pipeline end to end: HTTP -> queue -> consumer -> rows, the DLQ, duplicates, crashes, FIFO order."""

from __future__ import annotations

import http.client
import json
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sluice_ingest.logic import EVENTS_PATH
from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.sqs import QueueDepth
from tests.integration.e2e.conftest import E2E_FIFO_TOPOLOGY, drain, receive_all, rows
from tests.support.factories import event_body, event_dict
from tests.support.local import dlq_depth

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from sluice_local.event_source import MessageQueue


def send_bodies(pipeline, bodies: Sequence[str], **extra: Any) -> list[str]:
    """Send bodies straight to the source queue, as a producer that bypasses ingest would; return message ids."""
    ids: list[str] = []
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        response = pipeline.sqs.send_message_batch(
            QueueUrl=pipeline.queue_url,
            Entries=[{"Id": str(index), "MessageBody": body, **extra} for index, body in enumerate(chunk)],
        )
        assert not response.get("Failed")
        ids.extend(entry["MessageId"] for entry in sorted(response["Successful"], key=lambda e: int(e["Id"])))
    return ids


def test_a_poison_message_ends_in_the_dlq_with_its_reason(start_pipeline):
    # given a good event, one with a naive timestamp and one that is not JSON
    pipeline = start_pipeline()
    good = event_dict()
    naive = event_body(occurred_at="2026-11-26T12:00:00")
    send_bodies(pipeline, [json.dumps(good), naive, "{not json"])

    # when
    drain(pipeline)

    # then the good one is stored and each bad one is in the DLQ with why
    assert rows(pipeline, "SELECT event_id::text FROM events") == [(good["event_id"],)]
    dead = receive_all(pipeline, pipeline.dlq_url)
    reasons = {m["Body"]: DeadLetterReason.from_attributes(m.get("MessageAttributes", {})) for m in dead}
    assert set(reasons) == {naive, "{not json"}
    naive_reason, malformed_reason = reasons[naive], reasons["{not json"]
    assert naive_reason is not None
    assert malformed_reason is not None
    assert (naive_reason.error_code, naive_reason.error_field) == ("invalid_message", "occurred_at")
    assert (malformed_reason.error_code, malformed_reason.error_field) == ("malformed_json", None)
    assert {naive_reason.source_queue, malformed_reason.source_queue} == {pipeline.queues.queue_arn}
    assert pipeline.depth() == QueueDepth(visible=0, in_flight=0)


def post_events(pipeline, body: Any) -> tuple[int, dict[str, Any]]:
    """POST JSON to the ingest function's events endpoint over HTTP; return the status and the JSON answer."""
    connection = http.client.HTTPConnection(urlsplit(pipeline.ingest_url).netloc, timeout=30)
    try:
        connection.request("POST", EVENTS_PATH, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_events_posted_over_http_are_stored_and_invalid_ones_refused_at_the_door(start_pipeline):
    # given
    pipeline = start_pipeline()
    good = [
        event_dict(),
        event_dict(event_type="user.signed_up", payload={"user_id": "u-1", "email": "a@b.co", "plan": "pro"}),
    ]
    naive = event_dict(occurred_at="2026-11-26T12:00:00")

    # when
    status, answer = post_events(pipeline, [good[0], naive, good[1]])
    drain(pipeline)

    # then
    assert status == 207
    assert [(r["index"], r["status"]) for r in answer["results"]] == [(0, "queued"), (1, "rejected"), (2, "queued")]
    stored = rows(pipeline, "SELECT event_id::text, event_type, source, payload FROM events ORDER BY event_type")
    assert stored == sorted(
        [(e["event_id"], e["event_type"], e["source"], e["payload"]) for e in good], key=lambda row: row[1]
    )
    assert dlq_depth(pipeline) == QueueDepth(visible=0, in_flight=0)


def test_a_duplicate_event_is_stored_once(start_pipeline):
    # given one event posted twice, as a producer retrying after a lost answer would
    pipeline = start_pipeline()
    event = event_dict()

    # when
    first, _ = post_events(pipeline, event)
    second, _ = post_events(pipeline, event)
    drain(pipeline)

    # then both were queued and one row was stored
    assert (first, second) == (202, 202)
    assert rows(pipeline, "SELECT event_id::text FROM events") == [(event["event_id"],)]
    assert pipeline.event_source.stats.deleted == 2
    assert dlq_depth(pipeline) == QueueDepth(visible=0, in_flight=0)


class DiesBeforeFirstDelete:
    """A queue whose first DeleteMessageBatch never happens, as if the consumer died after its commit."""

    def __init__(self, queue: MessageQueue) -> None:
        self.queue = queue
        self.arn = queue.arn
        self.region = queue.region
        self.receive_counts: dict[str, list[str]] = defaultdict(list)
        self.dropped: list[str] = []
        self._lock = threading.Lock()

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[MessageTypeDef]:
        messages = self.queue.receive(max_messages=max_messages, wait_seconds=wait_seconds)
        with self._lock:
            for message in messages:
                self.receive_counts[message["Body"]].append(message["Attributes"]["ApproximateReceiveCount"])
        return messages

    def delete(self, messages: Sequence[MessageTypeDef]) -> list[str]:
        with self._lock:
            if not self.dropped:
                self.dropped = [m["MessageId"] for m in messages]
                return []
        return self.queue.delete(messages)

    def release(self, messages: Sequence[MessageTypeDef]) -> None:
        self.queue.release(messages)


def test_a_consumer_killed_between_commit_and_delete_is_redelivered_and_stored_once(start_pipeline):
    # given a consumer that commits its batch and "dies" before deleting it
    crash: list[DiesBeforeFirstDelete] = []

    def wrap(queue: MessageQueue) -> MessageQueue:
        crash.append(DiesBeforeFirstDelete(queue))
        return crash[0]

    pipeline = start_pipeline(wrap_queue=wrap)
    body = event_body()

    # when the message is sent, committed, not deleted, and redelivered after the visibility timeout
    send_bodies(pipeline, [body])
    drain(pipeline)

    # then it was delivered twice and stored once, by the first delivery
    assert crash[0].receive_counts[body] == ["1", "2"]
    assert len(crash[0].dropped) == 1
    assert rows(pipeline, "SELECT event_id::text, receive_count FROM events") == [(json.loads(body)["event_id"], 1)]
    assert dlq_depth(pipeline) == QueueDepth(visible=0, in_flight=0)


def test_a_fifo_queue_keeps_per_group_order(start_pipeline):
    # given three groups of ten events each, interleaved on the queue
    pipeline = start_pipeline(topology=E2E_FIFO_TOPOLOGY)
    groups = ("customer-a", "customer-b", "customer-c")
    sent: dict[str, list[str]] = defaultdict(list)
    for sequence in range(10):
        for group in groups:
            event = event_dict(payload={"order_id": group, "reason": f"step {sequence}"})
            sent[group].append(event["event_id"])
            pipeline.sqs.send_message(
                QueueUrl=pipeline.queue_url,
                MessageBody=json.dumps(event),
                MessageGroupId=group,
                MessageDeduplicationId=event["event_id"],
            )

    # when
    drain(pipeline)

    # then within each group the rows were committed in the order sent (insertion order, commit time)
    stored = rows(
        pipeline, "SELECT payload->>'order_id', event_id::text, received_at FROM events ORDER BY received_at, ctid"
    )
    by_group: dict[str, list[str]] = defaultdict(list)
    for group, event_id, _ in stored:
        by_group[group].append(event_id)
    assert by_group == sent
