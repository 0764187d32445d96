"""Table sinks through the real handler on real PostgreSQL: every mode, exactly-once effects, version guards,
failures isolated per message (constraint, NOT NULL, too long, missing reference, missing row), and a missing
table retried as a configuration error. The registry and its tables: ``tests/support/sink_registry.py``.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from sluice_cli.context import LocalContext
from sluice_consumer import runtime
from sluice_consumer.handler import lambda_handler
from sluice_consumer.settings import ConsumerSettings
from sluice_shared.errors import ConfigurationError
from tests.integration.consumer.conftest import dead_letters
from tests.support.factories import event_dict
from tests.support.sink_registry import REGISTRY, TABLES
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient

    from sluice_shared.dead_letter import DeadLetterReason

NO_FAILURES: dict[str, list[dict[str, str]]] = {"batchItemFailures": []}


def created(order_id: str, *, at: str = "2026-11-26T12:00:00+00:00", total: int = 100, **payload: Any) -> str:
    body = {
        "order_id": order_id,
        "customer_id": "c-1",
        "currency": "EUR",
        "total_cents": total,
        "lines": [{"sku": "a"}],
        **payload,
    }
    return json.dumps(event_dict(event_type="order.created", occurred_at=at, payload=body))


def cancelled(order_id: str, *, at: str = "2026-11-26T13:00:00+00:00") -> str:
    return json.dumps(event_dict(event_type="order.cancelled", occurred_at=at, payload={"order_id": order_id}))


def deleted(order_id: str, *, at: str) -> str:
    return json.dumps(event_dict(event_type="order.deleted", occurred_at=at, payload={"order_id": order_id}))


def paid(order_id: str, *, amount: int = 100) -> str:
    payload = {"payment_id": f"p-{uuid.uuid4().hex[:8]}", "order_id": order_id, "amount_cents": amount}
    return json.dumps(event_dict(event_type="payment.captured", payload=payload))


def failures(*indexes: int) -> dict[str, list[dict[str, str]]]:
    return {"batchItemFailures": [{"itemIdentifier": f"m{index}"} for index in indexes]}


class Sinks:
    """The handler with the sink registry, a DLQ, and a connection for looking at the tables."""

    def __init__(self, db: psycopg.Connection[Any], sqs_client: SQSClient, dlq_url: str) -> None:
        self.db = db
        self.sqs_client = sqs_client
        self.dlq_url = dlq_url

    def consume(self, *bodies: str, receive_count: int = 1) -> Any:
        return lambda_handler(sqs_event(list(bodies), receive_count=receive_count), LocalContext())

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.db.execute(query)]

    def dead_letters(self, expected: int) -> list[tuple[str, DeadLetterReason]]:
        return dead_letters(self.sqs_client, self.dlq_url, expected)


@pytest.fixture
def sinks(migrated_database_url: str, writer_url: str, dlq_url: str, sqs_client: SQSClient) -> Iterator[Sinks]:
    with psycopg.connect(migrated_database_url, autocommit=True) as db:
        db.execute(TABLES)
        # The consumer runs as sluice_writer, as deployed: the owner of the sink tables grants it what sinks do.
        db.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON orders, payments, order_log TO sluice_writer")
        runtime.configure(
            ConsumerSettings(
                database_url=writer_url,  # type: ignore[arg-type]
                dlq_url=dlq_url,
                payload_registry=REGISTRY,
            )
        )
        try:
            yield Sinks(db, sqs_client, dlq_url)
        finally:
            runtime.configure(None)


def test_each_event_lands_in_its_tables_and_a_redelivery_is_applied_once(
    sinks: Sinks, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a batch with an order, its payment and a cancellation
    batch = (created("o-1", total=250), paid("o-1", amount=250), cancelled("o-1"))

    # when it is consumed, then SQS redelivers it whole (the answer was lost), then a DLQ replay sends one again
    assert sinks.consume(*batch) == NO_FAILURES
    [logged] = [vars(record) for record in caplog.records if record.getMessage() == "batch consumed"]
    assert logged["sink_rows"] == {
        "public.order_log": {"applied": 1},
        "public.orders": {"applied": 2},
        "public.payments": {"applied": 1},
    }
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    per_table = {document["table"]: document for document in emf if "table" in document}
    assert per_table["public.orders"]["SinkRowsApplied"] == [2.0]
    assert per_table["public.payments"]["SinkRowsApplied"] == [1.0]
    assert sinks.consume(*batch, receive_count=2) == NO_FAILURES
    assert sinks.consume(batch[0]) == NO_FAILURES

    # then every table holds what the events imply, once: the append-only log too
    # (char(3) keeps all three letters: values are cast to the column's type without its length)
    assert sinks.rows("SELECT order_id, customer_id, currency, total_cents, line_count, status FROM orders") == [
        ("o-1", "c-1", "EUR", 250, 1, "cancelled")
    ]
    assert sinks.rows("SELECT order_id, amount_cents FROM payments") == [("o-1", 250)]
    assert sinks.rows("SELECT order_id, kind FROM order_log") == [("o-1", "created")]


def test_an_older_event_never_overwrites_a_newer_one_in_any_order(sinks: Sinks) -> None:
    older = created("o-1", at="2026-11-26T12:00:00+00:00", total=100)
    newer = created("o-1", at="2026-11-26T12:05:00+00:00", total=200)
    later = created("o-2", at="2026-11-26T12:05:00+00:00", total=200)
    earlier = created("o-2", at="2026-11-26T12:00:00+00:00", total=100)

    # o-1: newer first, in two batches; o-2: both in one batch, newer first
    assert sinks.consume(newer) == NO_FAILURES
    assert sinks.consume(older) == NO_FAILURES
    assert sinks.consume(later, earlier) == NO_FAILURES

    assert sinks.rows("SELECT order_id, total_cents FROM orders ORDER BY order_id") == [("o-1", 200), ("o-2", 200)]


def test_a_cancellation_before_its_order_is_retried_until_the_order_is_there(sinks: Sinks) -> None:
    # given a cancellation whose order has not arrived
    early = cancelled("o-1")
    assert sinks.consume(early) == failures(0)
    assert sinks.rows("SELECT count(*) FROM events") == [(0,)]

    # when the order arrives, then the redelivered cancellation applies
    assert sinks.consume(created("o-1")) == NO_FAILURES
    assert sinks.consume(early, receive_count=2) == NO_FAILURES
    assert sinks.rows("SELECT status FROM orders") == [("cancelled",)]


def test_a_cancellation_whose_order_never_comes_is_dead_lettered_on_its_last_delivery(sinks: Sinks) -> None:
    orphan = cancelled("o-404")

    assert sinks.consume(orphan, receive_count=5) == NO_FAILURES

    [(body, reason)] = sinks.dead_letters(expected=1)
    assert (body, reason.error_code) == (orphan, "missing_row")
    assert "no row has this event's key" in reason.error_message


def test_a_payment_before_its_order_is_retried_then_dead_lettered_as_missing_reference(sinks: Sinks) -> None:
    # given a payment for an order not stored yet, in a batch with a valid order
    early = paid("o-9")
    assert sinks.consume(created("o-1"), early) == failures(1)
    assert sinks.rows("SELECT order_id FROM orders") == [("o-1",)]

    # when its order never comes and it reaches the queue's receive limit, then it is dead-lettered with the FK
    assert sinks.consume(early, receive_count=5) == NO_FAILURES
    [(body, reason)] = sinks.dead_letters(expected=1)
    assert (body, reason.error_code) == (early, "missing_reference")
    assert "payments_order_fk" in reason.error_message


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (created("o-bad", total=-5), "orders_total_not_negative"),
        (json.dumps(event_dict(event_type="order.created", payload={"order_id": "o-bad", "total_cents": 1})), "null"),
        (created("o-bad", note="far too long for ten"), "too long"),
    ],
    ids=["check", "not-null", "too-long"],
)
def test_a_row_the_table_refuses_dead_letters_its_message_and_the_rest_commit(
    sinks: Sinks, bad: str, words: str
) -> None:
    good = [created(f"o-{index}") for index in range(4)]

    response = sinks.consume(good[0], good[1], bad, good[2], good[3])

    assert response == NO_FAILURES
    assert sinks.rows("SELECT count(*) FROM orders") == [(4,)]
    assert sinks.rows("SELECT count(*) FROM events") == [(4,)]
    [(body, reason)] = sinks.dead_letters(expected=1)
    assert (body, reason.error_code) == (bad, "constraint_violation")
    assert words in reason.error_message


def test_a_delete_keeps_an_older_upsert_out_whatever_the_order(sinks: Sinks) -> None:
    # o-1: created, then deleted; o-2: the delete arrives before the (older) create
    assert sinks.consume(created("o-1", at="2026-11-26T12:00:00+00:00")) == NO_FAILURES
    assert sinks.consume(deleted("o-1", at="2026-11-26T12:10:00+00:00")) == NO_FAILURES
    assert sinks.consume(deleted("o-2", at="2026-11-26T12:10:00+00:00")) == NO_FAILURES
    assert sinks.consume(created("o-2", at="2026-11-26T12:00:00+00:00")) == NO_FAILURES
    # o-3: a create newer than its delete comes back
    assert sinks.consume(deleted("o-3", at="2026-11-26T12:10:00+00:00")) == NO_FAILURES
    assert sinks.consume(created("o-3", at="2026-11-26T12:20:00+00:00")) == NO_FAILURES

    assert sinks.rows("SELECT order_id FROM orders ORDER BY order_id") == [("o-3",)]


def test_a_missing_table_retries_the_whole_batch_and_dead_letters_nothing(sinks: Sinks) -> None:
    sinks.db.execute("DROP TABLE payments")

    with pytest.raises(ConfigurationError, match=r"sink table public\.payments does not exist"):
        sinks.consume(created("o-1"), paid("o-1"))

    assert sinks.rows("SELECT count(*) FROM events") == [(0,)]
    assert sinks.dead_letters(expected=0) == []
