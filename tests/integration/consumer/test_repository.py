"""The bulk write against a real PostgreSQL: exactly which rows were new, across statement boundaries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg

from sluice_consumer.database import Database, UrlCredentials
from sluice_consumer.logic import EventRow
from sluice_consumer.repository import COUNT_EVENTS, MAX_ROWS_PER_STATEMENT, PostgresEventStore


def rows(count: int) -> list[EventRow]:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    return [EventRow(uuid.uuid4(), "order.created", "t", now, 1, '{"n": 1}', f"m{i}", 1) for i in range(count)]


def test_store_returns_exactly_the_new_event_ids_across_statements(migrated_database_url: str) -> None:
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
    assert new == {row.event_id for row in earlier[:900] + earlier[1100:]}
    assert again == set()
    with psycopg.connect(migrated_database_url) as conn:
        assert conn.execute(COUNT_EVENTS).fetchone() == (1500,)
