"""Batch logic: validate every message, write the valid ones in bulk, dead-letter the bad ones, report the rest.

:func:`consume_batch` works over two small ports, :class:`EventStore` and :class:`DeadLetterSink`, and returns
a :class:`BatchResult` with one outcome per message. It never acknowledges a message that was neither
committed nor dead-lettered:

1. parse and validate every record (permanent failures are kept for the DLQ);
2. write all valid rows in one bulk transaction; on a data error, bisect into smaller transactions until
   the offending rows stand alone (they become permanent failures), so one bad row never fails its neighbours;
   on a transient error every row not yet committed is retried;
3. FIFO: after the first retried message of a group, every later message of that group is retried too;
4. send the permanent failures to the DLQ (FIFO: one per group per send, in order); a failed send is
   retried instead, and SQS's redrive moves it after ``maxReceiveCount`` receives;
5. report retried messages as ``batchItemFailures``.

Before each unit of work the deadline is checked: past it, unfinished messages are retried.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import sha256
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol, TypedDict

from pydantic_core import to_json

from sluice_consumer.deadline import NO_DEADLINE, Deadline
from sluice_shared.contract import MAX_BODY_BYTES, parse_message
from sluice_shared.errors import (
    ConflictingDuplicateError,
    ConstraintViolationError,
    PermanentError,
    SluiceError,
    TransientError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from sluice_consumer.records import SqsBatch, SqsRecord
    from sluice_shared.contract import EventEnvelope
    from sluice_shared.registry import PayloadRegistry
    from sluice_shared.sinks import Sink

__all__ = [
    "BatchItemFailure",
    "BatchResult",
    "DeadLetter",
    "DeadLetterSink",
    "DeadlineExceededError",
    "Disposition",
    "EventRow",
    "EventStore",
    "GroupHeldBackError",
    "MessageOutcome",
    "PartialBatchResponse",
    "WriteResult",
    "consume_batch",
    "content_digest",
    "event_row",
]

# Parsing 10,000 messages takes ~100 ms: check the deadline every few hundred, not once per message.
PARSE_DEADLINE_CHECK_EVERY: Final = 256
# 128 bits: a chance collision between two contents of one event_id is not a practical concern.
CONTENT_DIGEST_BYTES: Final = 16


class DeadlineExceededError(TransientError):
    """Too little of the invocation's time was left to start this work; SQS will redeliver the message."""

    code = "deadline"


class GroupHeldBackError(TransientError):
    """An earlier message of the same FIFO group failed; this one is retried after it to keep the order."""

    code = "fifo_group_held_back"


class Disposition(StrEnum):
    """What happened to one message."""

    STORED = "stored"
    """Written as a new row."""
    DUPLICATE = "duplicate"
    """Its ``event_id`` was already stored with the same content (a redelivery, a replay, a twin in the batch)."""
    DEAD_LETTERED = "dead_lettered"
    """Failed permanently and was sent to the DLQ with the reason attached."""
    RETRY = "retry"
    """Reported as a batch item failure: SQS will deliver it again."""


class EventRow(NamedTuple):
    """One row of the ``events`` table, mapped explicitly from the envelope and its SQS record."""

    event_id: UUID
    event_type: str
    source: str
    occurred_at: datetime
    schema_version: int
    payload: str  # JSON text of the payload object
    sqs_message_id: str
    receive_count: int
    content_digest: bytes  # see content_digest()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one :meth:`EventStore.store` call did with each of its rows (by position in the rows it was given).

    A row in neither set was a duplicate: its ``event_id`` is stored with the same content.
    """

    new: frozenset[int]
    """Rows written by this call."""
    conflicts: Mapping[int, ConflictingDuplicateError] = field(default_factory=dict)
    """Rows whose ``event_id`` is stored with other content: refused, the stored row unchanged."""
    held_back: Mapping[int, Sink] = field(default_factory=dict)
    """Rows not recorded because an update or delete sink found no row and its policy retries or dead-letters."""
    sink_counts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Sink rows by (table, outcome): applied, duplicate, stale, missing."""


class EventStore(Protocol):
    """Where valid events are written."""

    def store(self, rows: Sequence[EventRow], *, deadline: Deadline) -> WriteResult:
        """Insert ``rows`` atomically, skipping ``event_id`` values already stored.

        The first row of an ``event_id`` is written; a later one (a redelivery, a replay, a twin in ``rows``)
        is a duplicate when its content digest or, failing that, every field equals the stored row's, and a
        conflict otherwise. Nothing is committed when it raises.

        Raises:
            ConstraintViolationError: the database refused a row on its data.
            TransientError: the database was unreachable, dropped the connection or ran out of time.
        """
        ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A permanently failed message and why."""

    record: SqsRecord
    error: PermanentError


class DeadLetterSink(Protocol):
    """Where permanently failing messages go."""

    def send(self, letters: Sequence[DeadLetter]) -> dict[str, SluiceError]:
        """Send every letter; return the errors of those *not* sent, keyed by SQS message id."""
        ...


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """The disposition of one message and, for dead-lettered or retried ones, the error behind it."""

    message_id: str
    disposition: Disposition
    error: SluiceError | None = None
    dead_letter_error: SluiceError | None = None
    """Why a permanently failed message could not be dead-lettered (it is retried instead)."""


class BatchItemFailure(TypedDict):
    """One entry of ``batchItemFailures``."""

    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    """The response AWS documents for ``ReportBatchItemFailures``."""

    batchItemFailures: list[BatchItemFailure]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Per-message outcomes of one batch, in delivery order, and how long the batch took."""

    outcomes: tuple[MessageOutcome, ...]
    fifo: bool = False
    duration_ms: float = 0.0
    counts: Counter[Disposition] = field(default_factory=Counter, compare=False)

    def __post_init__(self) -> None:
        self.counts.update(outcome.disposition for outcome in self.outcomes)

    def response(self) -> PartialBatchResponse:
        """``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``; an empty list means all done."""
        return {
            "batchItemFailures": [
                {"itemIdentifier": outcome.message_id}
                for outcome in self.outcomes
                if outcome.disposition is Disposition.RETRY
            ]
        }

    def error_codes(self, disposition: Disposition) -> dict[str, int]:
        """How many messages of ``disposition`` failed with each error code."""
        return dict(
            Counter(
                outcome.error.code
                for outcome in self.outcomes
                if outcome.disposition is disposition and outcome.error is not None
            )
        )


def event_row(envelope: EventEnvelope, record: SqsRecord) -> EventRow:
    """Map a validated envelope and its SQS record to an ``events`` row."""
    # Serialised by pydantic-core (Rust); NaN/Infinity are written as such and the database refuses them,
    # which routes such a payload to the DLQ instead of silently altering it.
    payload = to_json(envelope.payload)
    return EventRow(
        envelope.event_id,
        envelope.event_type,
        envelope.source,
        envelope.occurred_at,
        envelope.schema_version,
        payload.decode(),
        record.message_id,
        record.receive_count,
        content_digest(envelope, payload),
    )


def content_digest(envelope: EventEnvelope, payload_json: bytes) -> bytes:
    """SHA-256 (first 16 bytes) of the envelope fields and the payload JSON, as stored in ``content_digest``.

    Two deliveries of the same body always give the same digest (the payload is serialized the same way), so an
    exact redelivery is recognised without reading the stored payload. Different digests are not yet a
    conflict: the store confirms field by field in PostgreSQL (jsonb equality, so key order and whitespace, or
    another offset for the same instant, never count as a difference). SHA-256 rather than BLAKE2b: with the
    CPU's SHA extensions it is the fastest digest ``hashlib`` offers on these machines (about 1 us a row).
    """
    digest = sha256(payload_json)
    envelope_fields = f"{envelope.event_type}\x00{envelope.source}\x00{envelope.occurred_at.isoformat()}"
    digest.update(f"{envelope_fields}\x00{envelope.schema_version}".encode())
    return digest.digest()[:CONTENT_DIGEST_BYTES]


def consume_batch(
    batch: SqsBatch,
    *,
    store: EventStore,
    dead_letters: DeadLetterSink,
    registry: PayloadRegistry | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    deadline: Deadline = NO_DEADLINE,
    clock: Callable[[], float] = time.perf_counter,
) -> BatchResult:
    """Validate, store and dead-letter one SQS batch; return every message's outcome (see the module doc).

    Raises only what is not about the messages: a configuration error (for example a missing table) escapes,
    so the invocation fails loudly and SQS redelivers the whole batch.
    """
    started = clock()
    records = batch.records
    work = _Work(records)
    rows = work.parse(registry=registry, max_body_bytes=max_body_bytes, deadline=deadline)
    work.write(rows, store=store, deadline=deadline)
    if batch.fifo:
        work.hold_back_fifo_groups()
    work.dead_letter(dead_letters, deadline=deadline, fifo=batch.fifo)
    return BatchResult(work.outcomes(), fifo=batch.fifo, duration_ms=(clock() - started) * 1000.0)


class _Work:
    """Mutable per-message state while a batch is processed."""

    def __init__(self, records: Sequence[SqsRecord]) -> None:
        self.records = records
        self.dispositions: list[Disposition | None] = [None] * len(records)
        self.errors: list[SluiceError | None] = [None] * len(records)
        self.rejected: dict[int, PermanentError] = {}
        self.dead_letter_errors: dict[int, SluiceError] = {}

    def retry(self, indexes: Sequence[int] | range, error: SluiceError) -> None:
        for index in indexes:
            if self.dispositions[index] is None or index in self.rejected:
                self.rejected.pop(index, None)
                self.dispositions[index] = Disposition.RETRY
                self.errors[index] = error

    def reject(self, index: int, error: PermanentError) -> None:
        self.rejected[index] = error
        self.errors[index] = error

    def parse(
        self, *, registry: PayloadRegistry | None, max_body_bytes: int, deadline: Deadline
    ) -> list[tuple[int, EventRow]]:
        rows: list[tuple[int, EventRow]] = []
        for index, record in enumerate(self.records):
            if index % PARSE_DEADLINE_CHECK_EVERY == 0 and deadline.expired():
                self.retry(range(index, len(self.records)), DeadlineExceededError("deadline reached while parsing"))
                break
            try:
                envelope = parse_message(record.body, registry=registry, max_bytes=max_body_bytes)
            except PermanentError as exc:
                self.reject(index, exc)
                continue
            rows.append((index, event_row(envelope, record)))
        return rows

    def write(self, rows: list[tuple[int, EventRow]], *, store: EventStore, deadline: Deadline) -> None:
        # A stack of parts still to write, the next one on top; halves are pushed so the earlier half runs first.
        pending: list[list[tuple[int, EventRow]]] = [rows] if rows else []
        while pending:
            part = pending.pop()
            if deadline.expired():
                self._retry_parts([part, *pending], DeadlineExceededError("deadline reached before writing"))
                return
            try:
                written = store.store([row for _, row in part], deadline=deadline)
            except ConstraintViolationError as exc:
                if len(part) == 1:
                    self.reject(part[0][0], exc)
                else:
                    middle = len(part) // 2
                    pending.extend((part[middle:], part[:middle]))
                continue
            except TransientError as exc:
                self._retry_parts([part, *pending], exc)
                return
            for position, (index, _row) in enumerate(part):
                conflict = written.conflicts.get(position)
                if conflict is not None:
                    self.reject(index, conflict)  # dead-lettered below; the stored row is unchanged
                elif position in written.new:
                    self.dispositions[index] = Disposition.STORED
                else:
                    self.dispositions[index] = Disposition.DUPLICATE

    def _retry_parts(self, parts: Sequence[Sequence[tuple[int, EventRow]]], error: SluiceError) -> None:
        self.retry([index for part in parts for index, _ in part], error)

    def hold_back_fifo_groups(self) -> None:
        failed_groups: set[str] = set()
        for index, record in enumerate(self.records):
            group = record.group_id
            if group is None:
                continue
            if self.dispositions[index] is Disposition.RETRY:
                failed_groups.add(group)
            elif group in failed_groups:
                # Stored rows reported failed come back as duplicates: idempotent, and the order is kept.
                self.rejected.pop(index, None)
                self.dispositions[index] = Disposition.RETRY
                self.errors[index] = GroupHeldBackError(f"an earlier message of FIFO group {group!r} failed")

    def dead_letter(self, sink: DeadLetterSink, *, deadline: Deadline, fifo: bool) -> None:
        # FIFO: at most one letter per group in each send, so a failed send holds back the group's later
        # letters instead of letting them reach the DLQ ahead of it.
        while self.rejected:
            if deadline.expired():
                self.retry(list(self.rejected), DeadlineExceededError("deadline reached before dead-lettering"))
                return
            chosen = self._next_letters() if fifo else list(self.rejected)
            unsent = sink.send([DeadLetter(self.records[index], self.rejected[index]) for index in chosen])
            for index in chosen:
                del self.rejected[index]
                failure = unsent.get(self.records[index].message_id)
                if failure is None:
                    self.dispositions[index] = Disposition.DEAD_LETTERED
                else:
                    # The outcome keeps the original reason; SQS's redrive moves it after maxReceiveCount.
                    self.dispositions[index] = Disposition.RETRY
                    self.dead_letter_errors[index] = failure
            if fifo:
                self.hold_back_fifo_groups()

    def _next_letters(self) -> list[int]:
        chosen: list[int] = []
        groups: set[str | None] = set()
        for index in sorted(self.rejected):
            group = self.records[index].group_id
            if group is None or group not in groups:
                chosen.append(index)
                groups.add(group)
        return chosen

    def outcomes(self) -> tuple[MessageOutcome, ...]:
        return tuple(
            MessageOutcome(
                record.message_id, disposition or Disposition.RETRY, error, self.dead_letter_errors.get(index)
            )
            for index, (record, disposition, error) in enumerate(
                zip(self.records, self.dispositions, self.errors, strict=True)
            )
        )
