"""A reused event_id with other content is a conflicting duplicate: dead-lettered with what differs, row unchanged.

The real handler against real PostgreSQL and a moto DLQ. An exact redelivery stays a silent duplicate, even when
the same content is spelled differently (key order, whitespace, another offset for the same instant).
"""

from __future__ import annotations

import json
from hashlib import sha256
from typing import TYPE_CHECKING, Any

import pytest

from sluice_cli.context import LocalContext
from sluice_consumer.handler import lambda_handler
from tests.integration.consumer.conftest import dead_letters
from tests.support.factories import event_body, event_dict
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Callable

    import psycopg
    from mypy_boto3_sqs import SQSClient

    from sluice_consumer.settings import ConsumerSettings
    from sluice_shared.dead_letter import DeadLetterReason

NO_FAILURES: dict[str, list[dict[str, str]]] = {"batchItemFailures": []}


class Consumer:
    """The handler configured with a DLQ; ``dead_letters()`` receives what it dead-lettered since last asked."""

    def __init__(self, sqs_client: SQSClient, dlq_url: str) -> None:
        self.sqs_client = sqs_client
        self.dlq_url = dlq_url

    def consume(self, event: dict[str, Any]) -> Any:
        return lambda_handler(event, LocalContext())

    def dead_letters(self, expected: int) -> list[tuple[str, DeadLetterReason]]:
        return dead_letters(self.sqs_client, self.dlq_url, expected)


@pytest.fixture
def consumer(configure_consumer: Callable[..., ConsumerSettings], dlq_url: str, sqs_client: SQSClient) -> Consumer:
    configure_consumer(dlq_url=dlq_url)
    return Consumer(sqs_client, dlq_url)


def _stored(db: psycopg.Connection[Any], event_id: str) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT payload, occurred_at, sqs_message_id FROM events WHERE event_id = %s", (event_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def _event(message_id: str, body: str, *, receive_count: int = 1) -> dict[str, Any]:
    event = sqs_event([body], receive_count=receive_count)
    event["Records"][0]["messageId"] = message_id
    return event


@pytest.mark.parametrize("receive_count", [1, 2], ids=["replayed-or-reused", "redelivered"])
def test_same_event_id_with_another_payload_is_dead_lettered_and_the_row_kept(
    receive_count: int, consumer: Consumer, db: psycopg.Connection[Any]
) -> None:
    # given an event stored from message first-1
    original = event_dict(payload={"order_id": "o-1", "reason": "late"})
    assert consumer.consume(_event("first-1", json.dumps(original))) == NO_FAILURES
    before = _stored(db, original["event_id"])

    # when another message reuses its event_id for other content
    reused = json.dumps({**original, "payload": {"order_id": "o-1", "reason": "changed my mind"}})
    response = consumer.consume(_event("second-2", reused, receive_count=receive_count))

    # then it is acknowledged (dead-lettered), the stored row is unchanged, and the reason says what differs
    assert response == NO_FAILURES
    assert _stored(db, original["event_id"]) == before
    [(body, reason)] = consumer.dead_letters(expected=1)
    assert body == reused
    assert (reason.error_code, reason.error_field) == ("conflicting_duplicate", "payload")
    assert reason.error_message.startswith(
        f"event_id {original['event_id']} was already stored from SQS message first-1 with a different payload"
    )


def test_every_differing_envelope_field_is_named(consumer: Consumer, db: psycopg.Connection[Any]) -> None:
    original = event_dict()
    assert consumer.consume(_event("first-1", json.dumps(original))) == NO_FAILURES

    changed = {**original, "source": "elsewhere", "occurred_at": "2026-11-26T13:00:00+00:00", "schema_version": 2}
    assert consumer.consume(_event("second-2", json.dumps(changed))) == NO_FAILURES

    [(_, reason)] = consumer.dead_letters(expected=1)
    assert "with a different source, occurred_at, schema_version;" in reason.error_message


def test_the_same_content_spelled_differently_is_a_silent_duplicate(
    consumer: Consumer, db: psycopg.Connection[Any]
) -> None:
    # given an event stored once
    original = event_dict(payload={"order_id": "o-1", "lines": [{"sku": "a", "n": 1}], "total": 10.5})
    assert consumer.consume(_event("first-1", json.dumps(original))) == NO_FAILURES

    # when it comes back with its keys reordered, other whitespace and the same instant in another offset
    respelled = (
        "{"
        f'"payload": {{"total": 10.50, "lines": [{{"n": 1, "sku": "a"}}], "order_id": "o-1"}}, '
        f'"occurred_at": "2026-11-26T13:00:00+01:00", "schema_version": 1, "source": "tests", '
        f'"event_type": "order.cancelled", "event_id": "{original["event_id"]}"'
        "}"
    )
    response = consumer.consume(_event("second-2", respelled, receive_count=2))

    # then it is a plain duplicate: nothing dead-lettered, the first delivery's row kept
    assert response == NO_FAILURES
    assert consumer.dead_letters(expected=0) == []
    assert _stored(db, original["event_id"])[2] == "first-1"


def test_twins_in_one_batch_follow_the_same_rule(consumer: Consumer, db: psycopg.Connection[Any]) -> None:
    # given one batch: an event, its exact twin, and a twin with another payload
    original = event_dict()
    same = json.dumps(original)
    other = json.dumps({**original, "payload": {"order_id": "o-2", "reason": "other"}})
    bodies = [same, event_body(), same, other]

    # when the batch is consumed
    response = consumer.consume(sqs_event(bodies))

    # then the first is stored, the exact twin is a duplicate and the other twin is dead-lettered
    assert response == NO_FAILURES
    assert _stored(db, original["event_id"])[2] == "m0"
    [(body, reason)] = consumer.dead_letters(expected=1)
    assert body == other
    assert reason.error_code == "conflicting_duplicate"
    assert "from SQS message m0 with a different payload" in reason.error_message


@pytest.mark.parametrize("receive_count", [1, 2], ids=["replayed-or-reused", "redelivered"])
def test_twins_of_a_stored_event_are_each_compared_with_the_stored_row(
    consumer: Consumer, db: psycopg.Connection[Any], receive_count: int
) -> None:
    # given a stored event
    original = event_dict()
    same = json.dumps(original)
    assert consumer.consume(_event("first", same)) == NO_FAILURES

    # when one batch brings it back twice unchanged and once with another payload, among new events
    other = json.dumps({**original, "payload": {"order_id": "o-3", "reason": "other"}})
    response = consumer.consume(sqs_event([event_body(), same, other, same, event_body()], receive_count=receive_count))

    # then only the changed one is dead-lettered, naming the delivery that stored the row, which is unchanged
    assert response == NO_FAILURES
    [(body, reason)] = consumer.dead_letters(expected=1)
    assert (body, reason.error_code) == (other, "conflicting_duplicate")
    assert "from SQS message first with a different payload" in reason.error_message
    assert _stored(db, original["event_id"])[2] == "first"
    assert db.execute("SELECT count(*) FROM events").fetchone() == (3,)


@pytest.mark.parametrize(
    "stored_digest",
    [None, sha256(b"an earlier release's digest").digest()[:16]],
    ids=["before-digests-existed", "digest-computed-otherwise"],
)
def test_a_row_without_a_digest_like_ours_is_compared_field_by_field(
    consumer: Consumer, db: psycopg.Connection[Any], stored_digest: bytes | None
) -> None:
    # given two rows written before the content digest migration (no digest), or by a release that computed it
    # another way (a digest that matches nothing this code computes)
    kept, changed = event_dict(), event_dict()
    for message_id, event in (("old-1", kept), ("old-2", changed)):
        assert consumer.consume(_event(message_id, json.dumps(event))) == NO_FAILURES
    db.execute("UPDATE events SET content_digest = %s", (stored_digest,))

    # when one comes back unchanged and the other with another payload
    again = json.dumps(kept)
    different = json.dumps({**changed, "payload": {"order_id": "o-9", "reason": "other"}})
    response = consumer.consume(sqs_event([again, different], receive_count=3))

    # then the unchanged one is a duplicate and the other a conflict
    assert response == NO_FAILURES
    [(body, reason)] = consumer.dead_letters(expected=1)
    assert (body, reason.error_field) == (different, "payload")
