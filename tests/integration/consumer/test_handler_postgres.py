"""The real consumer handler against a real PostgreSQL and a real SQS endpoint (moto server over HTTP)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from sluice_cli.context import LocalContext
from sluice_consumer.handler import lambda_handler
from sluice_shared.dead_letter import DeadLetterReason
from tests.integration.consumer.conftest import receive_all
from tests.support.events_table import COUNT_EVENTS, SELECT_EVENT
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient

    from sluice_consumer.settings import ConsumerSettings


def count(db: psycopg.Connection[Any]) -> int:
    row = db.execute(COUNT_EVENTS).fetchone()
    assert row is not None
    return int(row[0])


# The consumer's connection to this test's database: other tests (other workers, other runs) have their own.
CONSUMER_HERE = "application_name = 'sluice-consumer' AND datname = current_database()"


def failures(*indexes: int) -> dict[str, list[dict[str, str]]]:
    return {"batchItemFailures": [{"itemIdentifier": f"m{index}"} for index in indexes]}


def consumer_pid(db: psycopg.Connection[Any]) -> int:
    row = db.execute(f"SELECT pid FROM pg_stat_activity WHERE {CONSUMER_HERE}").fetchone()
    assert row is not None
    return int(row[0])


def test_valid_batch_is_stored_row_for_row(
    configure_consumer: Callable[..., ConsumerSettings], db: psycopg.Connection[Any]
) -> None:
    configure_consumer()
    event_id = uuid.uuid4()
    body = event_body(event_id=str(event_id), payload={"order_id": "o-1", "reason": "late", "note": "ü"})

    response = lambda_handler(sqs_event([body, event_body(), event_body()], receive_count=2), LocalContext())

    assert response == failures()
    assert count(db) == 3
    row = db.execute(SELECT_EVENT, (event_id,)).fetchone()
    assert row is not None
    assert row[:8] == (
        event_id,
        "order.cancelled",
        "tests",
        row[3],
        1,
        {"order_id": "o-1", "reason": "late", "note": "ü"},
        "m0",
        2,
    )
    assert row[3].isoformat() == "2026-11-26T12:00:00+00:00"
    assert row[8] is not None  # received_at, the server's clock


def test_order_created_unlike_the_sample_catalog_is_stored_under_default_settings(
    configure_consumer: Callable[..., ConsumerSettings], db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the settings a deployment gets (no SLUICE_PAYLOAD_REGISTRY) and the user's own order.created shapes
    monkeypatch.delenv("SLUICE_PAYLOAD_REGISTRY", raising=False)
    monkeypatch.delenv("SLUICE_UNKNOWN_EVENT_TYPES", raising=False)
    settings = configure_consumer()
    assert settings.payload_registry is None
    bodies = [
        event_body(event_type="order.created", payload={"orderNumber": index, "items": [{"sku": None}]})
        for index in range(8)
    ]

    # when
    response = lambda_handler(sqs_event(bodies), LocalContext())

    # then all eight are stored, none dead-lettered
    assert response == failures()
    assert count(db) == 8


def test_duplicates_within_and_across_batches_are_stored_once(
    configure_consumer: Callable[..., ConsumerSettings], db: psycopg.Connection[Any]
) -> None:
    configure_consumer()
    twin = event_body()
    first = sqs_event([twin, event_body(), twin])

    assert lambda_handler(first, LocalContext()) == failures()
    assert lambda_handler(first, LocalContext()) == failures()  # SQS redelivered the whole batch

    assert count(db) == 2


def test_poison_message_goes_to_the_dlq_with_its_reason_and_attributes(
    configure_consumer: Callable[..., ConsumerSettings],
    db: psycopg.Connection[Any],
    dlq_url: str,
    sqs_client: SQSClient,
) -> None:
    configure_consumer(dlq_url=dlq_url)
    trace = {"dataType": "String", "stringValue": "t-42", "stringListValues": [], "binaryListValues": []}
    attributes = {"trace": trace}
    poison = event_body(occurred_at="2026-11-26T12:00:00")  # naive timestamp

    response = lambda_handler(sqs_event([event_body(), poison, event_body()], attributes=attributes), LocalContext())

    assert response == failures()
    assert count(db) == 2
    [message] = receive_all(sqs_client, dlq_url, expected=1)
    assert message["Body"] == poison
    assert message["MessageAttributes"]["trace"] == {"StringValue": "t-42", "DataType": "String"}
    reason = DeadLetterReason.from_attributes(message["MessageAttributes"])
    assert reason is not None
    assert (reason.error_code, reason.error_field) == ("invalid_message", "occurred_at")
    assert reason.source_queue == "arn:aws:sqs:us-east-2:123456789012:my-queue"


def test_row_that_passes_pydantic_but_breaks_the_database_is_isolated(
    configure_consumer: Callable[..., ConsumerSettings],
    db: psycopg.Connection[Any],
    dlq_url: str,
    sqs_client: SQSClient,
) -> None:
    configure_consumer(dlq_url=dlq_url)
    # Rules an operator added to the table that the message contract does not know.
    db.execute("ALTER TABLE events ADD CONSTRAINT events_source_not_blocked CHECK (source <> 'blocked')")
    db.execute("ALTER TABLE events ADD CONSTRAINT events_recent CHECK (occurred_at >= '2000-01-01')")
    blocked = event_body(source="blocked")
    ancient = event_body(occurred_at="1999-12-31T23:59:59+00:00")
    bodies = [event_body() for _ in range(6)]
    bodies[2], bodies[4] = blocked, ancient

    response = lambda_handler(sqs_event(bodies), LocalContext())

    assert response == failures()
    assert count(db) == 4
    messages = sorted(receive_all(sqs_client, dlq_url, expected=2), key=lambda message: message["Body"] != blocked)
    assert [message["Body"] for message in messages] == [blocked, ancient]
    reasons = [DeadLetterReason.from_attributes(message["MessageAttributes"]) for message in messages]
    assert [reason.error_code for reason in reasons if reason] == ["constraint_violation", "constraint_violation"]
    refused = 'the database refused the row (23514): new row for relation "events" violates check constraint '
    assert [reason.error_message for reason in reasons if reason] == [
        refused + '"events_source_not_blocked"',
        refused + '"events_recent"',
    ]


def test_permanent_failure_without_a_dlq_is_reported_for_sqs_redrive(
    configure_consumer: Callable[..., ConsumerSettings], db: psycopg.Connection[Any]
) -> None:
    configure_consumer()

    assert lambda_handler(sqs_event([event_body(), "nope"]), LocalContext()) == failures(1)
    assert count(db) == 1


def test_database_going_away_mid_batch_loses_nothing_and_retries_everything(
    configure_consumer: Callable[..., ConsumerSettings], migrated_database_url: str, db: psycopg.Connection[Any]
) -> None:
    configure_consumer()
    bodies = [event_body() for _ in range(2500)]
    blocker_id = str(uuid.uuid4())
    bodies[1500] = event_body(event_id=blocker_id)
    # Another transaction holds an uncommitted row with the event_id of message 1500: the consumer's second
    # 1,000-row statement waits on it, mid-batch, after its first statement ran in the same transaction.
    with psycopg.connect(migrated_database_url) as blocker:
        hold_event_id(blocker, blocker_id)
        result: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: result.update(lambda_handler(sqs_event(bodies), LocalContext())))
        thread.start()
        pid = _wait_for_lock_wait(db)
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        thread.join(timeout=60)
        blocker.rollback()

    assert result == failures(*range(2500))
    assert count(db) == 0
    # SQS redelivers the batch; the pool replaces the dead connection and everything is stored.
    assert lambda_handler(sqs_event(bodies), LocalContext()) == failures()
    assert count(db) == 2500


def test_statement_past_the_deadline_is_cancelled_and_retried(
    configure_consumer: Callable[..., ConsumerSettings], migrated_database_url: str, db: psycopg.Connection[Any]
) -> None:
    configure_consumer(batch_deadline_margin_ms=1000)
    blocker_id = str(uuid.uuid4())
    with psycopg.connect(migrated_database_url) as blocker:
        hold_event_id(blocker, blocker_id)
        started = time.monotonic()
        # 2 s of Lambda time, 1 s kept free: the blocked INSERT is cancelled after about 1 s.
        response = lambda_handler(sqs_event([event_body(), event_body(event_id=blocker_id)]), LocalContext(timeout_s=2))
        elapsed = time.monotonic() - started
        blocker.rollback()

    assert response == failures(0, 1)
    assert elapsed < 2.0, "the invocation must end before the Lambda timeout"  # a correctness bound, not speed
    assert count(db) == 0


def test_connection_killed_between_invocations_is_replaced_by_the_pool(
    configure_consumer: Callable[..., ConsumerSettings], db: psycopg.Connection[Any]
) -> None:
    configure_consumer()
    assert lambda_handler(sqs_event([event_body()]), LocalContext()) == failures()
    # With a timeout, pg_terminate_backend returns once the backend has exited (its FATAL message sent): the
    # connection was killed between the invocations, not while the next one is starting.
    db.execute("SELECT pg_terminate_backend(%s, 5000)", (consumer_pid(db),))

    assert lambda_handler(sqs_event([event_body(), event_body()]), LocalContext()) == failures()
    assert count(db) == 3


def test_unreachable_database_retries_the_whole_batch(configure_consumer: Callable[..., ConsumerSettings]) -> None:
    from sluice_consumer import runtime  # noqa: PLC0415
    from sluice_consumer.settings import ConsumerSettings  # noqa: PLC0415

    configure_consumer()
    runtime.configure(
        ConsumerSettings(database_url="postgresql://postgres@127.0.0.1:1/none", db_connect_timeout_s=1)  # type: ignore[arg-type]
    )

    assert lambda_handler(sqs_event([event_body(), event_body()]), LocalContext()) == failures(0, 1)


@pytest.mark.slow
def test_ten_thousand_message_batch_through_the_handler(
    configure_consumer: Callable[..., ConsumerSettings],
    db: psycopg.Connection[Any],
    dlq_url: str,
    sqs_client: SQSClient,
) -> None:
    configure_consumer(dlq_url=dlq_url)
    bodies = [event_body() for _ in range(10_000)]
    for index in range(0, 10_000, 1000):
        bodies[index + 7] = '{"event_id": "not-a-uuid"}'
    bodies[9_999] = bodies[0]  # a redelivered twin

    response = lambda_handler(sqs_event(bodies), LocalContext(timeout_s=300))

    assert response == failures()
    assert count(db) == 10_000 - 10 - 1
    assert len(receive_all(sqs_client, dlq_url, expected=10)) == 10


def hold_event_id(conn: psycopg.Connection[Any], event_id: str) -> None:
    """Insert a row with ``event_id`` and keep the transaction open: writers of that id wait on it."""
    conn.execute(
        "INSERT INTO events (event_id, event_type, source, occurred_at, payload, sqs_message_id, receive_count,"
        " schema_version) VALUES (%s, 'order.cancelled', 'blocker', now(), '{}', 'x', 1, 1)",
        (event_id,),
    )


def _wait_for_lock_wait(db: psycopg.Connection[Any]) -> int:
    for _ in range(600):
        row = db.execute(
            f"SELECT pid FROM pg_stat_activity WHERE {CONSUMER_HERE} AND wait_event_type = 'Lock'"
        ).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError("the consumer never waited on the blocking row")
