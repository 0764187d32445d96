"""Every SQL statement on the ``events`` table, and the bulk, idempotent write behind :class:`EventStore`.

The write path is RDS-Proxy-safe: one ``INSERT ... SELECT FROM unnest(...)`` per up to 1,000 rows with
binary array parameters, ``ON CONFLICT (event_id) DO NOTHING RETURNING event_id`` so the caller learns
which rows were new, all statements of a batch in one transaction. No temporary tables, no ``SET``, no
named prepared statements, no advisory locks, no sequences (each of them pins an RDS Proxy session).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg.types.string import ByteaBinaryLoader

from sluice_consumer.database import classify_database_error, statement_watchdog
from sluice_consumer.deadline import NO_DEADLINE, Deadline

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from sluice_consumer.database import Database
    from sluice_consumer.logic import EventRow

__all__ = [
    "COLUMNS",
    "COPY_EVENTS",
    "COUNT_EVENTS",
    "CREATE_MIGRATIONS_TABLE",
    "INSERT_EVENTS",
    "INSERT_MIGRATION",
    "LOCK_MIGRATIONS_TABLE",
    "MAX_ROWS_PER_STATEMENT",
    "MIGRATIONS_TABLE_EXISTS",
    "SELECT_EVENT",
    "SELECT_MIGRATIONS",
    "PostgresEventStore",
    "insert_events",
]

# One statement of 10,000 unnested rows spills to disk (work_mem); 1,000 keeps each statement in memory
# at one round trip per 1,000 rows (see ../shared/FACTS.md, "PostgreSQL write paths").
MAX_ROWS_PER_STATEMENT: Final = 1000

COLUMNS: Final = (
    "event_id",
    "event_type",
    "source",
    "occurred_at",
    "schema_version",
    "payload",
    "sqs_message_id",
    "receive_count",
)

# %b: binary parameters; text arrays would be escaped element by element on the client, ~4x slower.
# The payload travels as text and is parsed into jsonb by the server, exactly as COPY would parse it.
INSERT_EVENTS: Final = """
INSERT INTO events (event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id,
                    receive_count)
SELECT event_id, event_type, source, occurred_at, schema_version, payload::jsonb, sqs_message_id, receive_count
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::timestamptz[], %b::int4[], %b::text[], %b::text[], %b::int4[])
    AS batch(event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, receive_count)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

COPY_EVENTS: Final = """
COPY events (event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, receive_count)
FROM STDIN
"""

COUNT_EVENTS: Final = "SELECT count(*) FROM events"

# --- the migrations' version table -------------------------------------------------------------------
CREATE_MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS sluice_schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
# A transaction-level table lock serialises concurrent migrators and ends with the transaction; an
# advisory lock held across the session would pin an RDS Proxy session. Readers are not blocked.
LOCK_MIGRATIONS_TABLE: Final = "LOCK TABLE sluice_schema_migrations IN SHARE ROW EXCLUSIVE MODE"
MIGRATIONS_TABLE_EXISTS: Final = "SELECT to_regclass('sluice_schema_migrations') IS NOT NULL"
SELECT_MIGRATIONS: Final = "SELECT version, name, checksum FROM sluice_schema_migrations ORDER BY version"
INSERT_MIGRATION: Final = "INSERT INTO sluice_schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"

SELECT_EVENT: Final = """
SELECT event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, receive_count,
       received_at
FROM events
WHERE event_id = %s
"""


def insert_events(conn: psycopg.Connection[Any], rows: Sequence[EventRow]) -> set[UUID]:
    """Insert ``rows`` in the connection's current transaction; return the ``event_id`` values that were new.

    Raises psycopg's own errors; callers classify them.
    """
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in COLUMNS]
    new_ids: set[UUID] = set()
    with conn.cursor(binary=True) as cursor:
        # Returned uuids load as 16 raw bytes (a C loader), not one uuid.UUID object per row.
        cursor.adapters.register_loader("uuid", ByteaBinaryLoader)
        for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
            end = start + MAX_ROWS_PER_STATEMENT
            cursor.execute(INSERT_EVENTS, [column[start:end] for column in columns])
            chunk_ids: list[UUID] = columns[0][start:end]
            if cursor.rowcount == len(chunk_ids):
                new_ids.update(chunk_ids)  # every row was new (the common case): no need to read them back
                continue
            returned = {raw for (raw,) in cursor.fetchall()}
            new_ids.update(event_id for event_id in chunk_ids if event_id.bytes in returned)
    return new_ids


class PostgresEventStore:
    """:class:`~sluice_consumer.logic.EventStore` over a :class:`~sluice_consumer.database.Database`."""

    def __init__(self, database: Database, *, statement_timeout_ms: int | None = None) -> None:
        self.database = database
        self.statement_timeout_ms = statement_timeout_ms

    def _budget_s(self, deadline: Deadline) -> float | None:
        budget = deadline.budget_s()
        if self.statement_timeout_ms is not None:
            budget = min(budget, self.statement_timeout_ms / 1000.0)
        return None if budget == float("inf") else budget

    def store(self, rows: Sequence[EventRow], *, deadline: Deadline = NO_DEADLINE) -> set[UUID]:
        """Write ``rows`` in one transaction; return the ``event_id`` values that were new.

        Raises:
            ConstraintViolationError: a row broke a constraint or was not valid data (nothing committed).
            DatabaseUnavailableError: the connection failed, was cancelled at the deadline, or timed out.
            ConfigurationError: the table is missing or the role may not write it.
        """
        budget = self._budget_s(deadline)
        with self.database.connection(timeout_s=budget) as conn:
            try:
                with statement_watchdog(conn, budget), conn.transaction():
                    return insert_events(conn, rows)
            except psycopg.Error as exc:
                if conn.broken:
                    self.database.discard(conn)
                raise classify_database_error(exc) from exc
