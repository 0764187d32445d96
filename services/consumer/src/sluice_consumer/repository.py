"""Every SQL statement the consumer runs on ``events``, and the bulk, idempotent write behind :class:`EventStore`.

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

from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import psycopg
from psycopg import postgres, sql
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
    "COPY_EVENTS_BINARY",
    "COPY_TYPES",
    "CREATE_MIGRATIONS_TABLE",
    "EVENT_COLUMNS",
    "INSERT_EVENTS",
    "INSERT_MIGRATION",
    "LOCK_MIGRATIONS_TABLE",
    "MAX_ROWS_PER_STATEMENT",
    "MIGRATIONS_TABLE_EXISTS",
    "PROBE_STORED",
    "SELECT_APPLIED_VERSIONS",
    "SELECT_MIGRATIONS",
    "Column",
    "compare_stored",
    "copy_new_events",
    "insert_events",
    "probe_stored",
]

# One statement of 10,000 unnested rows spills to disk (work_mem); 1,000 keeps each statement in memory at one
# round trip per 1,000 rows: ~64,000 rows/s with binary parameters, 0.8x a plain text COPY (measured with
# psycopg 3.3 on PostgreSQL 15 over loopback).
MAX_ROWS_PER_STATEMENT: Final = 1000


class Column(NamedTuple):
    """One column of the ``events`` table the consumer writes: its name (an :class:`EventRow` field) and type."""

    name: str
    type: str
    """The PostgreSQL type, as COPY and the array parameters name it."""

    @property
    def parameter_type(self) -> str:
        """The type the value travels as: jsonb as JSON text, parsed by the server exactly as COPY parses it."""
        return "text" if self.type == "jsonb" else self.type


# The one definition of the written columns: the COPY column list and types, every statement's column lists and the
# order values are taken from an EventRow (by name) all follow it. received_at is the server's (DEFAULT now()).
EVENT_COLUMNS: Final = (
    Column("event_id", "uuid"),
    Column("event_type", "text"),
    Column("source", "text"),
    Column("occurred_at", "timestamptz"),
    Column("schema_version", "int4"),
    Column("payload", "jsonb"),
    Column("sqs_message_id", "text"),
    Column("receive_count", "int4"),
    Column("content_digest", "bytea"),
)
COLUMNS: Final = tuple(column.name for column in EVENT_COLUMNS)
COPY_TYPES: Final = tuple(column.type for column in EVENT_COLUMNS)
# The envelope fields COMPARE_STORED reports on, in its column order.
COMPARED_FIELDS: Final = ("event_type", "source", "occurred_at", "schema_version", "payload")
_COLUMN: Final = {column.name: column for column in EVENT_COLUMNS}
# An EventRow's values in EVENT_COLUMNS' order, taken by name (one C call a row).
_row_values: Final = attrgetter(*COLUMNS)


def _names(columns: Sequence[Column], *, prefix: str | None = None) -> sql.Composable:
    """``a, b, c`` (or ``prefix.a, prefix.b, ...``), each name quoted as an identifier."""
    return sql.SQL(", ").join(
        sql.Identifier(prefix, column.name) if prefix else sql.Identifier(column.name) for column in columns
    )


def _arrays(columns: Sequence[Column]) -> sql.Composable:
    """One binary array parameter per column: ``%b::uuid[], %b::text[], ...``."""
    return sql.SQL(", ").join(sql.SQL("%b::{}[]").format(sql.SQL(column.parameter_type)) for column in columns)


def _as_written(column: Column, *, prefix: str) -> sql.Composable:
    """``prefix.name``, cast to the column's type when it travels as another (``batch.payload::jsonb``)."""
    if column.parameter_type == column.type:
        return sql.Identifier(prefix, column.name)
    return sql.SQL("{}::{}").format(sql.Identifier(prefix, column.name), sql.SQL(column.type))


def _statement(template: str, **parts: sql.Composable) -> str:
    """A statement composed once, at import, from identifiers and constants only: executed as a plain string."""
    return sql.SQL(template).format(**parts).as_string()


# %b: binary parameters; text arrays would be escaped element by element on the client, ~4x slower.
# The payload travels as text and is parsed into jsonb by the server, exactly as COPY would parse it.
INSERT_EVENTS: Final = _statement(
    """
INSERT INTO events ({columns})
SELECT {values}
FROM unnest({arrays})
    AS batch({columns})
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
""",
    columns=_names(EVENT_COLUMNS),
    values=sql.SQL(", ").join(_as_written(column, prefix="batch") for column in EVENT_COLUMNS),
    arrays=_arrays(EVENT_COLUMNS),
)
# Binary COPY: the optimistic write. Binary skips the text escaping of every value on both sides.
COPY_EVENTS_BINARY: Final = _statement(
    "\nCOPY events ({columns})\nFROM STDIN (FORMAT BINARY)\n", columns=_names(EVENT_COLUMNS)
)

# --- the duplicate path ---------------------------------------------------------------------------------
# Which of some rows are stored, and whether the stored content digest equals theirs: one row back, holding the
# 0-based positions of each kind (positions in neither are not stored; a row stored before migration 0002 has no
# digest and counts as differing, to be compared field by field). Each id is a primary-key lookup in a subquery,
# so the plan does not depend on the table's statistics: joined to the unnested ids, a table never analyzed yet
# (a new deployment's first minutes) was hash-joined after a sequential scan, 37 ms for 1,000 ids in a
# 60,000-row table against 3 ms for the lookups (PostgreSQL 15 on loopback, December 2026). OFFSET 0 keeps the
# subquery evaluated once per id rather than once per aggregate. Only positions travel back: reading 1,000 stored
# ids and digests into Python cost more than the lookups.
PROBE_STORED: Final = """
SELECT coalesce(array_agg(probed.position) FILTER (WHERE probed.same), '{}'),
       coalesce(array_agg(probed.position) FILTER (WHERE NOT probed.same), '{}')
FROM (
    SELECT batch.position::int4 - 1 AS position,
           (SELECT coalesce(stored.content_digest = batch.content_digest, false)
            FROM events AS stored
            WHERE stored.event_id = batch.event_id) AS same
    FROM unnest(%b::uuid[], %b::bytea[]) WITH ORDINALITY AS batch(event_id, content_digest, position)
    OFFSET 0
) AS probed
"""
# Incoming events whose digest differs from the stored row's, compared field by field: jsonb equality ignores key
# order and whitespace, timestamptz equality another offset for the same instant. One row per event compared.
_COMPARED: Final = tuple(_COLUMN[name] for name in COMPARED_FIELDS)
COMPARE_STORED: Final = _statement(
    """
SELECT batch.position, stored.sqs_message_id, {differs}
FROM unnest(%b::int4[], {arrays})
    AS batch(position, {columns})
JOIN events AS stored ON stored.event_id = batch.event_id
""",
    differs=sql.SQL(", ").join(
        sql.SQL("{} <> {}").format(sql.Identifier("stored", column.name), _as_written(column, prefix="batch"))
        for column in _COMPARED
    ),
    arrays=_arrays((_COLUMN["event_id"], *_COMPARED)),
    columns=_names((_COLUMN["event_id"], *_COMPARED)),
)

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


def _columns(rows: Sequence[EventRow]) -> list[list[Any]]:
    """The rows' values column by column, in EVENT_COLUMNS' order."""
    if not rows:
        return [[] for _ in COLUMNS]
    return [list(column) for column in zip(*map(_row_values, rows), strict=True)]


class _JsonTextBinaryDumper(Dumper):
    """jsonb's binary input format: a version byte (1), then the JSON text, sent as it is (no second serialization).

    Registered by oid only (``register_dumper(None, ...)``): a COPY whose column types are set dumps the payload's
    JSON text with it, where psycopg's own jsonb dumper would serialize the string again, as a JSON string.
    """

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


def copy_new_events(conn: psycopg.Connection[Any], rows: Sequence[EventRow]) -> None:
    """Bulk-load ``rows``, none of which may be stored yet (or twice in ``rows``), with one binary ``COPY``.

    One statement, so it is atomic on an autocommit connection whatever the batch size.

    Raises psycopg's own errors, ``UniqueViolation`` when an ``event_id`` is already stored; callers classify.
    """
    with conn.cursor() as cursor:
        cursor.adapters.register_dumper(None, _JsonTextBinaryDumper)
        with cursor.copy(COPY_EVENTS_BINARY) as copy:
            copy.set_types(list(COPY_TYPES))
            for row in rows:
                copy.write_row(_row_values(row))


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


def probe_stored(conn: psycopg.Connection[Any], rows: Sequence[EventRow]) -> dict[int, bool]:
    """Which of ``rows`` are stored, by position: ``True`` when the stored content digest equals the row's.

    A position missing from the result is not stored. ``False`` is not yet a conflict: the store compares such
    rows field by field (:func:`compare_stored`).
    """
    found: dict[int, bool] = {}
    with conn.cursor(binary=True) as cursor:
        for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
            chunk = rows[start : start + MAX_ROWS_PER_STATEMENT]
            cursor.execute(PROBE_STORED, [[row.event_id for row in chunk], [row.content_digest for row in chunk]])
            same, differs = cursor.fetchone() or ([], [])
            found.update(dict.fromkeys([start + position for position in same], True))
            found.update(dict.fromkeys([start + position for position in differs], False))
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
            compared = [[getattr(row, column.name) for row in chosen] for column in (_COLUMN["event_id"], *_COMPARED)]
            cursor.execute(COMPARE_STORED, [list(chunk), *compared])
            for position, message_id, *differs in cursor.fetchall():
                fields = tuple(name for name, differ in zip(COMPARED_FIELDS, differs, strict=True) if differ)
                if fields:
                    event_id = rows[position].event_id
                    conflicts[position] = ConflictingDuplicateError(
                        event_id=event_id, fields=fields, stored_message_id=message_id
                    )
    return conflicts
