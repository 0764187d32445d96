"""Every SQL statement on the ``events`` table, and the bulk, idempotent write behind :class:`EventStore`.

Writes are optimistic. Almost every batch holds only new events, so a batch is first written with one binary
``COPY events FROM STDIN``: the bulk load path, atomic on its own in autocommit mode (no ``BEGIN``/``COMMIT``
round trips) and, with a plain table and no ``ON CONFLICT``, as fast as PostgreSQL loads rows. When it hits
an ``event_id`` already stored (a redelivery, a DLQ replay, a twin in the batch) the primary key rejects the
whole ``COPY`` and the batch is written again idempotently: ``INSERT ... SELECT FROM unnest(...) ON CONFLICT
(event_id) DO NOTHING RETURNING event_id`` with binary array parameters, one statement per 1,000 rows, all in
one transaction, which reports exactly the new rows.

Both paths are RDS-Proxy-safe: ``COPY FROM STDIN`` and unnamed statements only. No temporary tables, no
``SET``, no named prepared statements, no advisory locks, no sequences (each of them pins an RDS Proxy
session; ``tests/integration/reliability/test_pinning.py`` checks the wire).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple

import psycopg
from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.string import ByteaBinaryLoader

from sluice_shared.errors import ConflictingDuplicateError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from sluice_consumer.logic import EventRow

__all__ = [
    "COLUMNS",
    "COMPARED_FIELDS",
    "COMPARE_STORED",
    "COPY_EVENTS",
    "COPY_EVENTS_BINARY",
    "COPY_TYPES",
    "COUNT_EVENTS",
    "CREATE_MIGRATIONS_TABLE",
    "INSERT_EVENTS",
    "INSERT_MIGRATION",
    "LOCK_MIGRATIONS_TABLE",
    "MAX_ROWS_PER_STATEMENT",
    "MIGRATIONS_TABLE_EXISTS",
    "SELECT_APPLIED_VERSIONS",
    "SELECT_EVENT",
    "SELECT_MIGRATIONS",
    "SELECT_STORED",
    "JsonText",
    "StoredEvent",
    "compare_stored",
    "copy_new_events",
    "insert_events",
    "select_stored",
]

# One statement of 10,000 unnested rows spills to disk (work_mem); 1,000 keeps each statement in memory
# at one round trip per 1,000 rows (measured with psycopg 3.3 on PostgreSQL 15 over loopback, binary
# unnest parameters: ~64,000 rows/s at <= 1,000 rows per statement).
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
    "content_digest",
)

# %b: binary parameters; text arrays would be escaped element by element on the client, ~4x slower.
# The payload travels as text and is parsed into jsonb by the server, exactly as COPY would parse it.
INSERT_EVENTS: Final = """
INSERT INTO events (event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id,
                    receive_count, content_digest)
SELECT event_id, event_type, source, occurred_at, schema_version, payload::jsonb, sqs_message_id, receive_count,
       content_digest
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::timestamptz[], %b::int4[], %b::text[], %b::text[], %b::int4[],
            %b::bytea[])
    AS batch(event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, receive_count,
             content_digest)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

# Text COPY of the event data: the benchmarks' yardstick (and plain, non-idempotent bulk loads).
COPY_EVENTS: Final = """
COPY events (event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, receive_count)
FROM STDIN
"""
# Binary COPY: the optimistic write. Binary skips the text escaping of every value on both sides.
COPY_EVENTS_BINARY: Final = """
COPY events (event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, receive_count,
             content_digest)
FROM STDIN (FORMAT BINARY)
"""
COPY_TYPES: Final = ("uuid", "text", "text", "timestamptz", "int4", "jsonb", "text", "int4", "bytea")

# --- the duplicate path ---------------------------------------------------------------------------------
# What is stored for some event_ids: the content digest to compare, and the delivery that stored the row.
SELECT_STORED: Final = "SELECT event_id, content_digest, sqs_message_id FROM events WHERE event_id = ANY(%b::uuid[])"
# Incoming events whose digest differs from the stored row's, compared field by field: jsonb equality ignores key
# order and whitespace, timestamptz equality another offset for the same instant. One row per event compared.
COMPARE_STORED: Final = """
SELECT batch.position, stored.sqs_message_id,
       stored.event_type <> batch.event_type, stored.source <> batch.source,
       stored.occurred_at <> batch.occurred_at, stored.schema_version <> batch.schema_version,
       stored.payload <> batch.payload::jsonb
FROM unnest(%b::int4[], %b::uuid[], %b::text[], %b::text[], %b::timestamptz[], %b::int4[], %b::text[])
    AS batch(position, event_id, event_type, source, occurred_at, schema_version, payload)
JOIN events AS stored ON stored.event_id = batch.event_id
"""
# The envelope fields COMPARE_STORED reports on, in its column order.
COMPARED_FIELDS: Final = ("event_type", "source", "occurred_at", "schema_version", "payload")

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
# The consumer's schema gate: which of the versions its code ships are applied.
SELECT_APPLIED_VERSIONS: Final = "SELECT version FROM sluice_schema_migrations WHERE version = ANY(%s::int4[])"

SELECT_EVENT: Final = """
SELECT event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, receive_count,
       received_at
FROM events
WHERE event_id = %s
"""


def _columns(rows: Sequence[EventRow]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in COLUMNS]


class JsonText(str):
    """A payload already serialized to JSON text, sent as binary ``jsonb`` as it is (no second serialization)."""

    __slots__ = ()


class _JsonTextBinaryDumper(Dumper):
    """jsonb's binary input format: a version byte (1), then the JSON text."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


def copy_new_events(conn: psycopg.Connection[Any], rows: Sequence[EventRow]) -> set[UUID]:
    """Bulk-load ``rows``, none of which may be stored yet, with one binary ``COPY``; return their ``event_id``s.

    One statement, so it is atomic on an autocommit connection whatever the batch size.

    Raises psycopg's own errors, ``UniqueViolation`` when an ``event_id`` is already stored; callers classify.
    """
    with conn.cursor() as cursor:
        cursor.adapters.register_dumper(JsonText, _JsonTextBinaryDumper)
        with cursor.copy(COPY_EVENTS_BINARY) as copy:
            copy.set_types(list(COPY_TYPES))
            for row in rows:
                copy.write_row((*row[:5], JsonText(row.payload), *row[6:]))
    return {row.event_id for row in rows}


def insert_events(conn: psycopg.Connection[Any], rows: Sequence[EventRow]) -> set[UUID]:
    """Insert ``rows``, skipping ``event_id``s already stored (one statement per 1,000); return the new ones.

    Raises psycopg's own errors; callers classify them.
    """
    columns = _columns(rows)
    new_ids: set[UUID] = set()
    with conn.cursor(binary=True) as cursor:
        # Returned uuids load as 16 raw bytes (a C loader), not one uuid.UUID object per row.
        cursor.adapters.register_loader("uuid", ByteaBinaryLoader)
        for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
            end = start + MAX_ROWS_PER_STATEMENT
            cursor.execute(INSERT_EVENTS, [column[start:end] for column in columns])
            chunk_ids: list[UUID] = columns[0][start:end]
            if cursor.rowcount == len(chunk_ids):
                new_ids.update(chunk_ids)  # every row was new: no need to read them back
                continue
            returned = {raw for (raw,) in cursor.fetchall()}
            new_ids.update(event_id for event_id in chunk_ids if event_id.bytes in returned)
    return new_ids


class StoredEvent(NamedTuple):
    """What is stored for an event_id: the content digest to compare and the delivery that stored it."""

    content_digest: bytes | None
    sqs_message_id: str


def select_stored(conn: psycopg.Connection[Any], event_ids: Sequence[UUID]) -> dict[bytes, StoredEvent]:
    """The stored digest and storing message of each of ``event_ids`` that is stored, keyed by the id's bytes."""
    found: dict[bytes, StoredEvent] = {}
    with conn.cursor(binary=True) as cursor:
        cursor.adapters.register_loader("uuid", ByteaBinaryLoader)  # 16 raw bytes, not uuid.UUID objects
        for start in range(0, len(event_ids), MAX_ROWS_PER_STATEMENT):
            cursor.execute(SELECT_STORED, [list(event_ids[start : start + MAX_ROWS_PER_STATEMENT])])
            for raw_id, digest, message_id in cursor.fetchall():
                found[raw_id] = StoredEvent(digest, message_id)
    return found


def compare_stored(
    conn: psycopg.Connection[Any], rows: Sequence[EventRow], positions: Sequence[int]
) -> dict[int, ConflictingDuplicateError]:
    """Compare ``rows[position]`` with the stored row of its ``event_id``, field by field, for each position.

    Returns the conflicts by position: rows whose envelope or payload differs from what is stored.
    """
    conflicts: dict[int, ConflictingDuplicateError] = {}
    with conn.cursor(binary=True) as cursor:
        for start in range(0, len(positions), MAX_ROWS_PER_STATEMENT):
            chunk = positions[start : start + MAX_ROWS_PER_STATEMENT]
            chosen = [rows[position] for position in chunk]
            cursor.execute(
                COMPARE_STORED,
                [
                    list(chunk),
                    [row.event_id for row in chosen],
                    [row.event_type for row in chosen],
                    [row.source for row in chosen],
                    [row.occurred_at for row in chosen],
                    [row.schema_version for row in chosen],
                    [row.payload for row in chosen],
                ],
            )
            for position, message_id, *differs in cursor.fetchall():
                fields = tuple(name for name, differ in zip(COMPARED_FIELDS, differs, strict=True) if differ)
                if fields:
                    event_id = rows[position].event_id
                    conflicts[position] = ConflictingDuplicateError(
                        event_id=event_id, fields=fields, stored_message_id=message_id
                    )
    return conflicts
