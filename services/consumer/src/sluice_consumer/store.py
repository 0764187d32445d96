"""The PostgreSQL event store: a batch's events written in bulk and idempotently, and its sink rows with them.

Events without sinks take the fastest path. A batch of first deliveries goes in with one binary ``COPY``, atomic on
its own in autocommit, before any per-row bookkeeping. Redeliveries (SQS's receive count above 1) are looked up
first, and only the others are copied. A ``COPY`` refused on a stored ``event_id`` (or a twin in the batch) is
written again with ``INSERT ... ON CONFLICT DO NOTHING RETURNING``. The ``events`` table is the
idempotency ledger: a message whose ``event_id`` is stored is a duplicate (same content digest, or the same
fields) or a conflicting duplicate (other content), never written twice.

Events with sinks are written in one transaction with their sink rows: the events first, then each sink's one
statement for the events that were *new* in this transaction, so a redelivered, replayed or twin event reaches
its sinks at most once. An update or delete that finds no row, when its policy retries or dead-letters it, must
not leave its event recorded: the transaction is rolled back and written again without it (its outcome is
reported for the batch logic to apply), which costs a second pass only in that case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import errors as pg_errors

from sluice_consumer.database_errors import classify_database_error
from sluice_consumer.deadline import NO_DEADLINE, Deadline
from sluice_consumer.logic import WriteResult
from sluice_consumer.repository import (
    MAX_ROWS_PER_STATEMENT,
    compare_stored,
    copy_new_events,
    insert_events,
    probe_stored,
)
from sluice_consumer.sink_writer import SinkWriter
from sluice_consumer.watchdog import statement_watchdog
from sluice_shared.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from uuid import UUID

    from sluice_consumer.database import Database
    from sluice_consumer.logic import EventRow
    from sluice_consumer.schema import SchemaGate
    from sluice_consumer.sink_mapping import SinkWrite
    from sluice_shared.sinks import Sink

__all__ = ["PostgresEventStore", "write_events", "write_events_and_sinks"]
# Passes of a sink transaction: the first, and one more per kind of row held back (it cannot grow past that).
MAX_SINK_PASSES: Final = 3


class PostgresEventStore:
    """:class:`~sluice_consumer.logic.EventStore` over a :class:`~sluice_consumer.database.Database`."""

    def __init__(
        self,
        database: Database,
        *,
        statement_timeout_ms: int | None = None,
        schema_gate: SchemaGate | None = None,
        sinks: Sequence[Sink] = (),
    ) -> None:
        self.database = database
        self.statement_timeout_ms = statement_timeout_ms
        self.schema_gate = schema_gate
        self.sink_writer = SinkWriter(sinks) if sinks else None

    def _budget_s(self, deadline: Deadline) -> float | None:
        budget = deadline.budget_s()
        if self.statement_timeout_ms is not None:
            budget = min(budget, self.statement_timeout_ms / 1000.0)
        return None if budget == float("inf") else budget

    def store(
        self,
        rows: Sequence[EventRow],
        *,
        deadline: Deadline = NO_DEADLINE,
        effects: Sequence[Sequence[SinkWrite]] = (),
    ) -> WriteResult:
        """Write ``rows`` and, for the new ones, their sink rows ``effects`` (aligned with ``rows``).

        Raises:
            ConstraintViolationError: a row (or a sink row) broke a constraint or was not valid data (nothing
                committed); :class:`~sluice_shared.errors.MissingReferenceError` for a foreign key.
            DatabaseUnavailableError: the connection failed, was cancelled at the deadline, or timed out (rows
                already committed by then are recognised as duplicates when SQS delivers them again).
            SchemaBehindError: the schema gate found migrations this code needs missing (nothing written).
            ConfigurationError: a table or column is missing, or the role may not write it.
        """
        budget = self._budget_s(deadline)
        with self.database.connection(timeout_s=budget) as conn:
            try:
                if self.schema_gate is not None:
                    self.schema_gate.ensure(conn)
                with statement_watchdog(conn, budget):
                    if self.sink_writer is None or not any(effects):
                        return write_events(conn, rows)
                    return write_events_and_sinks(conn, rows, effects, self.sink_writer)
            except psycopg.Error as exc:
                if conn.broken:
                    self.database.discard(conn)
                raise classify_database_error(exc) from exc


def _first_positions(rows: Sequence[EventRow]) -> dict[UUID, int]:
    # Built from the last row back, so each id keeps its first position (half the time of a setdefault loop).
    return {rows[position].event_id: position for position in range(len(rows) - 1, -1, -1)}


def _stored(conn: psycopg.Connection[Any], rows: Sequence[EventRow]) -> dict[UUID, bool]:
    """Which of ``rows`` are stored, by ``event_id``: ``True`` when the stored content digest equals the row's."""
    found = probe_stored(conn, rows)
    return {rows[position].event_id: same for position, same in found.items()}


def _redeliveries(rows: Sequence[EventRow], positions: Iterable[int]) -> list[int]:
    # Redeliveries (SQS's receive count above 1) are looked up first: written optimistically, one stored id
    # would make the whole COPY fail and the batch be written twice.
    return [position for position in positions if rows[position].receive_count > 1]


def write_events(conn: psycopg.Connection[Any], rows: Sequence[EventRow]) -> WriteResult:
    """Write the first row of each new ``event_id`` in bulk; tell duplicates from conflicts (see the module doc).

    Raises psycopg's own errors (callers classify), and :class:`DatabaseUnavailableError` when a row that the
    database refused as already stored cannot be found again (deleted meanwhile: retrying settles it).
    """
    redelivered = _redeliveries(rows, range(len(rows)))
    probed = probe_stored(conn, [rows[position] for position in redelivered]) if redelivered else {}
    if not all(probed.values()):
        return _write_known_and_new(conn, rows, redelivered, probed, copy_refused=False)
    if len(probed) == len(rows):  # the redelivered batch: every row stored with the same content, twins included
        return WriteResult(frozenset(), {})
    # The common batches: first deliveries, with or without exact redeliveries. Each redelivery found stored has
    # the same content (a duplicate); every other row goes in with one COPY, before any per-row bookkeeping. A
    # stored id or a twin among them makes the COPY fail whole, and the batch takes the general path.
    known = {redelivered[index] for index in probed}
    fresh = [position for position in range(len(rows)) if position not in known] if known else range(len(rows))
    if fresh:
        try:
            copy_new_events(conn, [rows[position] for position in fresh] if known else rows)
        except pg_errors.UniqueViolation:
            return _write_known_and_new(conn, rows, redelivered, probed, copy_refused=True)
    return WriteResult(frozenset(fresh), {})


def _write_known_and_new(
    conn: psycopg.Connection[Any],
    rows: Sequence[EventRow],
    redelivered: Sequence[int],
    probed: dict[int, bool],
    *,
    copy_refused: bool,
) -> WriteResult:
    """:func:`write_events` for a batch with a twin, a reused id or a redelivery of other content.

    ``probed`` is what :func:`probe_stored` found for the rows at ``redelivered`` (by index in it).
    """
    first = _first_positions(rows)
    # What is stored for each id as its first occurrence found it: a later twin is compared with that occurrence.
    stored: dict[UUID, bool] = {}
    for index, same in probed.items():
        position = redelivered[index]
        if first[rows[position].event_id] == position:
            stored[rows[position].event_id] = same
    pending = [rows[position] for position in first.values() if rows[position].event_id not in stored]
    new_ids = _atomically(conn, pending, copy_first=not copy_refused) if pending else set()
    if len(new_ids) < len(pending):
        stored.update(_stored(conn, [row for row in pending if row.event_id not in new_ids]))
    return _classify(conn, rows, first, new_ids, stored)


def write_events_and_sinks(
    conn: psycopg.Connection[Any],
    rows: Sequence[EventRow],
    effects: Sequence[Sequence[SinkWrite]],
    writer: SinkWriter,
) -> WriteResult:
    """:func:`write_events`, and each new event's sink rows in the same transaction (see the module doc)."""
    first = _first_positions(rows)
    redelivered = _redeliveries(rows, first.values())
    stored = _stored(conn, [rows[position] for position in redelivered]) if redelivered else {}
    pending = [position for position in first.values() if rows[position].event_id not in stored]
    if not pending:  # every event is stored already: nothing reaches a sink, no transaction to open
        return _classify(conn, rows, first, set(), stored)
    held: dict[int, Sink] = {}
    for _ in range(MAX_SINK_PASSES):
        todo = [position for position in pending if position not in held]
        newly_held: dict[int, Sink] = {}
        with conn.transaction():
            new_ids = _in_savepoint(conn, [rows[position] for position in todo]) if todo else set()
            writes = [
                (position, write)
                for position in todo
                if rows[position].event_id in new_ids
                for write in effects[position]
            ]
            sinks = writer.write(conn, writes)
            newly_held = {position: sink for position, sink in sinks.held_back.items() if position not in held}
            if newly_held:
                held.update(newly_held)
                raise psycopg.Rollback  # written again without them: their events must stay unrecorded
        if not newly_held:
            break
    else:
        raise DatabaseUnavailableError("sink rows kept changing which messages find their row: retrying the batch")
    written = [rows[position] for position in todo]
    if len(new_ids) < len(written):
        stored.update(_stored(conn, [row for row in written if row.event_id not in new_ids]))
    # A twin of a held-back message is held back with it: its first occurrence was not recorded.
    held_ids = {rows[position].event_id: sink for position, sink in held.items()}
    held_back = {position: held_ids[row.event_id] for position, row in enumerate(rows) if row.event_id in held_ids}
    result = _classify(conn, rows, first, new_ids, stored, skip=held_back)
    return WriteResult(result.new, result.conflicts, held_back=held_back, sink_counts=dict(sinks.counts))


def _classify(
    conn: psycopg.Connection[Any],
    rows: Sequence[EventRow],
    first: dict[UUID, int],
    new_ids: set[UUID],
    stored: dict[UUID, bool],
    *,
    skip: dict[int, Sink] | None = None,
) -> WriteResult:
    """Which rows were new, and which duplicates differ from what is stored (compared field by field)."""
    new: set[int] = set()
    to_compare: list[int] = []
    for position, row in enumerate(rows):
        if skip and position in skip:
            continue
        event_id = row.event_id
        if event_id in new_ids:
            if first[event_id] == position:
                new.add(position)
            elif rows[first[event_id]].content_digest != row.content_digest:  # a twin of a row written now
                to_compare.append(position)
            continue
        same = stored.get(event_id)
        if same is None:
            raise DatabaseUnavailableError(f"event {event_id} was refused as stored but is gone: retrying")
        if not same or (first[event_id] != position and rows[first[event_id]].content_digest != row.content_digest):
            to_compare.append(position)
    conflicts = compare_stored(conn, rows, to_compare) if to_compare else {}
    return WriteResult(frozenset(new), conflicts)


def _atomically(conn: psycopg.Connection[Any], rows: Sequence[EventRow], *, copy_first: bool) -> set[UUID]:
    """Autocommit: one ``COPY`` (atomic on its own); refused on a stored id, the idempotent ``INSERT``s."""
    if copy_first:
        try:
            copy_new_events(conn, rows)
        except pg_errors.UniqueViolation:
            pass  # some event_id is stored already (or another unique rule broke): write idempotently
        else:
            return {row.event_id for row in rows}
    if len(rows) <= MAX_ROWS_PER_STATEMENT:
        return insert_events(conn, rows)  # one statement: all or nothing without BEGIN/COMMIT
    with conn.transaction():
        return insert_events(conn, rows)


def _in_savepoint(conn: psycopg.Connection[Any], rows: Sequence[EventRow]) -> set[UUID]:
    """Inside the sink transaction: the ``COPY`` under a savepoint, so a refusal leaves the transaction usable."""
    try:
        with conn.transaction():
            copy_new_events(conn, rows)
    except pg_errors.UniqueViolation:
        return insert_events(conn, rows)
    return {row.event_id for row in rows}
