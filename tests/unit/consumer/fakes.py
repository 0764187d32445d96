"""In-memory fakes for the consumer's ports: the event store and the dead-letter sink."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sluice_consumer.logic import WriteResult
from sluice_shared.errors import ConflictingDuplicateError, ConstraintViolationError, SluiceError, TransientError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from uuid import UUID

    from sluice_consumer.deadline import Deadline
    from sluice_consumer.logic import DeadLetter, EventRow
    from sluice_consumer.sink_mapping import SinkWrite


class FakeEventStore:
    """Stores rows in a dict; refuses rows whose event_id is in ``bad_ids``; can fail transiently."""

    def __init__(
        self,
        *,
        bad_ids: set[UUID] | None = None,
        failure: TransientError | None = None,
        on_store: Callable[[], None] | None = None,
    ) -> None:
        self.rows: dict[UUID, EventRow] = {}
        self.bad_ids = bad_ids or set()
        self.failure = failure
        self.on_store = on_store
        self.calls: list[list[str]] = []

    def store(
        self, rows: Sequence[EventRow], *, deadline: Deadline, effects: Sequence[Sequence[SinkWrite]] = ()
    ) -> WriteResult:
        # The fake never runs out of time (tests drive the deadline through its clock) and has no sink tables
        # (sinks are PostgreSQL's: tests/integration/consumer/test_sinks.py).
        del deadline, effects
        self.calls.append([row.sqs_message_id for row in rows])
        if self.on_store is not None:
            self.on_store()
        if self.failure is not None:
            raise self.failure
        if any(row.event_id in self.bad_ids for row in rows):
            raise ConstraintViolationError("check constraint violated", sqlstate="23514", constraint="events_check")
        new: set[int] = set()
        conflicts: dict[int, ConflictingDuplicateError] = {}
        for position, row in enumerate(rows):
            stored = self.rows.get(row.event_id)
            if stored is None:
                self.rows[row.event_id] = row
                new.add(position)
                continue
            fields = _differences(stored, row)
            if fields:
                conflicts[position] = ConflictingDuplicateError(
                    event_id=row.event_id, fields=fields, stored_message_id=stored.sqs_message_id
                )
        return WriteResult(frozenset(new), conflicts)


def _differences(stored: EventRow, row: EventRow) -> tuple[str, ...]:
    """The fields that differ, as the PostgreSQL store compares them (the payload as JSON, not as text)."""
    if stored.content_digest == row.content_digest:
        return ()
    pairs = {
        "event_type": (stored.event_type, row.event_type),
        "source": (stored.source, row.source),
        "occurred_at": (stored.occurred_at, row.occurred_at),
        "schema_version": (stored.schema_version, row.schema_version),
        "payload": (json.loads(stored.payload), json.loads(row.payload)),
    }
    return tuple(name for name, (before, after) in pairs.items() if before != after)


class FakeDeadLetterSink:
    """Records every letter; refuses the message ids in ``refuse``."""

    def __init__(self, *, refuse: set[str] | None = None, error: SluiceError | None = None) -> None:
        self.refuse = refuse or set()
        self.error = error or TransientError("queue unreachable")
        self.sent: list[DeadLetter] = []

    def send(self, letters: Sequence[DeadLetter]) -> dict[str, SluiceError]:
        unsent = {}
        for letter in letters:
            if letter.record.message_id in self.refuse:
                unsent[letter.record.message_id] = self.error
            else:
                self.sent.append(letter)
        return unsent

    @property
    def sent_ids(self) -> list[str]:
        return [letter.record.message_id for letter in self.sent]

    @property
    def sent_codes(self) -> list[str]:
        return [letter.error.code for letter in self.sent]
