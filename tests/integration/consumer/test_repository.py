"""The bulk write against a real PostgreSQL: exactly which rows were new, across statement boundaries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from sluice_consumer.credentials import UrlCredentials
from sluice_consumer.database import Database
from sluice_consumer.logic import EventRow, WriteResult
from sluice_consumer.repository import MAX_ROWS_PER_STATEMENT
from sluice_consumer.store import PostgresEventStore
from sluice_shared.errors import ConstraintViolationError
from tests.support.events_table import COUNT_EVENTS


def rows(count: int) -> list[EventRow]:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    return [EventRow(uuid.uuid4(), "order.created", "t", now, 1, '{"n": 1}', f"m{i}", 1, b"d") for i in range(count)]


def test_store_reports_exactly_the_new_rows_across_statements(migrated_database_url: str) -> None:
    database = Database(UrlCredentials(migrated_database_url))
    store = PostgresEventStore(database)
    earlier = rows(1500)
    # Rows 900..1099 were stored before: they straddle the first and second 1,000-row statements.
    store.store(earlier[900:1100])
    batch = [*earlier, earlier[5]]  # plus a twin inside the batch

    try:
        new = store.store(batch)
        again = store.store(batch)
    finally:
        database.close()

    assert len(batch) > MAX_ROWS_PER_STATEMENT
    assert new == WriteResult(frozenset([*range(900), *range(1100, 1500)]))
    assert again == WriteResult(frozenset())
    with psycopg.connect(migrated_database_url) as conn:
        assert conn.execute(COUNT_EVENTS).fetchone() == (1500,)


def test_another_unique_rule_is_a_constraint_violation_not_a_duplicate(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE events ADD CONSTRAINT events_one_row_per_message UNIQUE (sqs_message_id)")
    database = Database(UrlCredentials(migrated_database_url))
    store = PostgresEventStore(database)
    first, clash = rows(2)
    store.store([first])

    try:
        with pytest.raises(ConstraintViolationError) as caught:
            store.store([clash._replace(sqs_message_id=first.sqs_message_id)])
    finally:
        database.close()

    assert (caught.value.sqlstate, caught.value.constraint) == ("23505", "events_one_row_per_message")
