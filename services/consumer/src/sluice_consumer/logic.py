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
from typing import TYPE_CHECKING, Final, NamedTuple

from sluice_consumer.deadline import NO_DEADLINE, Deadline
from sluice_consumer.ports import (
    BatchItemFailure,
    BatchResult,
    DeadLetter,
    DeadLetterSink,
    Disposition,
    EventRow,
    EventStore,
    MessageOutcome,
    PartialBatchResponse,
    WriteResult,
)
from sluice_consumer.rows import content_digest, event_row
from sluice_consumer.sink_mapping import sink_writes
from sluice_shared.contract import MAX_BODY_BYTES, parse_message
from sluice_shared.errors import (
    ConstraintViolationError,
    MissingReferenceError,
    MissingRowError,
    PermanentError,
    SluiceError,
    TransientError,
)
from sluice_shared.sinks import OnMissingRow
from sluice_shared.topology import MAX_RECEIVE_COUNT_MINIMUM

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sluice_consumer.records import SqsBatch, SqsRecord
    from sluice_consumer.sink_mapping import SinkWrite
    from sluice_shared.registry import PayloadRegistry
    from sluice_shared.sinks import Sink

__all__ = [
    "DEFAULT_MAX_RECEIVE_COUNT",
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
    "ReferenceNotYetStoredError",
    "RowNotYetStoredError",
    "WriteResult",
    "consume_batch",
    "content_digest",
    "event_row",
]

# Parsing 10,000 messages takes ~100 ms: check the deadline every few hundred, not once per message.
PARSE_DEADLINE_CHECK_EVERY: Final = 256
# The source queue's maxReceiveCount (the stack's redrive policy, 5 by default): a message whose sink row waits
# for a row another message brings is retried until this delivery, then dead-lettered with the reason.
DEFAULT_MAX_RECEIVE_COUNT: Final = MAX_RECEIVE_COUNT_MINIMUM  # QueueTopology's default


class DeadlineExceededError(TransientError):
    """Too little of the invocation's time was left to start this work; SQS will redeliver the message."""

    code = "deadline"


class RowNotYetStoredError(TransientError):
    """An update or delete sink found no row for this event's key: retried, as a later message may bring it."""

    code = "missing_row"


class ReferenceNotYetStoredError(TransientError):
    """A sink row's foreign key names a row not stored yet: retried, as a later message may bring it."""

    code = "missing_reference"


class _Parsed(NamedTuple):
    """A valid message: its index in the batch, its ``events`` row and its sink rows."""

    at: int  # the message's index in the batch
    row: EventRow
    effects: tuple[SinkWrite, ...]


class GroupHeldBackError(TransientError):
    """An earlier message of the same FIFO group failed; this one is retried after it to keep the order."""

    code = "fifo_group_held_back"


def consume_batch(
    batch: SqsBatch,
    *,
    store: EventStore,
    dead_letters: DeadLetterSink,
    registry: PayloadRegistry | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
    deadline: Deadline = NO_DEADLINE,
    clock: Callable[[], float] = time.perf_counter,
) -> BatchResult:
    """Validate, store and dead-letter one SQS batch; return every message's outcome (see the module doc).

    Raises only what is not about the messages: a configuration error (for example a missing table) escapes,
    so the invocation fails loudly and SQS redelivers the whole batch.
    """
    started = clock()
    records = batch.records
    work = _Work(records, max_receive_count=max_receive_count)
    parsed = work.parse(registry=registry, max_body_bytes=max_body_bytes, deadline=deadline)
    work.write(parsed, store=store, deadline=deadline)
    if batch.fifo:
        work.hold_back_fifo_groups()
    work.dead_letter(dead_letters, deadline=deadline, fifo=batch.fifo)
    return BatchResult(
        work.outcomes(), fifo=batch.fifo, duration_ms=(clock() - started) * 1000.0, sink_counts=work.sink_counts
    )


class _Work:
    """Mutable per-message state while a batch is processed."""

    def __init__(self, records: Sequence[SqsRecord], *, max_receive_count: int) -> None:
        self.records = records
        self.max_receive_count = max_receive_count
        self.sink_counts: Counter[tuple[str, str]] = Counter()
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

    def parse(self, *, registry: PayloadRegistry | None, max_body_bytes: int, deadline: Deadline) -> list[_Parsed]:
        parsed: list[_Parsed] = []
        for index, record in enumerate(self.records):
            if index % PARSE_DEADLINE_CHECK_EVERY == 0 and deadline.expired():
                self.retry(range(index, len(self.records)), DeadlineExceededError("deadline reached while parsing"))
                break
            try:
                envelope = parse_message(record.body, max_bytes=max_body_bytes)
                model = registry.validate(envelope) if registry is not None else None
                sinks = registry.sinks_for(envelope.event_type, envelope.schema_version) if registry else ()
                effects = sink_writes(envelope, model, sinks)
            except PermanentError as exc:
                self.reject(index, exc)
                continue
            parsed.append(_Parsed(index, event_row(envelope, record), effects))
        return parsed

    def write(self, parsed: list[_Parsed], *, store: EventStore, deadline: Deadline) -> None:
        # A stack of parts still to write, the next one on top; halves are pushed so the earlier half runs first.
        pending: list[list[_Parsed]] = [parsed] if parsed else []
        while pending:
            part = pending.pop()
            if deadline.expired():
                self._retry_parts([part, *pending], DeadlineExceededError("deadline reached before writing"))
                return
            try:
                written = store.store(
                    [item.row for item in part],
                    deadline=deadline,
                    effects=[item.effects for item in part] if any(item.effects for item in part) else (),
                )
            except ConstraintViolationError as exc:
                if len(part) == 1:
                    self._refused(part[0].at, exc)
                else:
                    middle = len(part) // 2
                    pending.extend((part[middle:], part[:middle]))
                continue
            except TransientError as exc:
                self._retry_parts([part, *pending], exc)
                return
            self.sink_counts.update(written.sink_counts)
            self._settle(part, written)

    def _settle(self, part: list[_Parsed], written: WriteResult) -> None:
        for position, item in enumerate(part):
            conflict = written.conflicts.get(position)
            sink = written.held_back.get(position)
            if conflict is not None:
                self.reject(item.at, conflict)  # dead-lettered below; the stored row is unchanged
            elif sink is not None:
                self._missing_row(item.at, sink)
            elif position in written.new:
                self.dispositions[item.at] = Disposition.STORED
            else:
                self.dispositions[item.at] = Disposition.DUPLICATE

    def _last_delivery(self, index: int) -> bool:
        return self.records[index].receive_count >= self.max_receive_count

    def _refused(self, index: int, error: ConstraintViolationError) -> None:
        """A row the database refused on its own: dead-lettered, unless its parent row may still come."""
        if isinstance(error, MissingReferenceError) and not self._last_delivery(index):
            self.retry([index], ReferenceNotYetStoredError(f"{error.message} (retried: the row may come later)"))
        else:
            self.reject(index, error)

    def _missing_row(self, index: int, sink: Sink) -> None:
        message = f"sink {sink.mode.value} on {sink.table}: no row has this event's key"
        if sink.missing_row_policy is OnMissingRow.RETRY and not self._last_delivery(index):
            self.retry([index], RowNotYetStoredError(f"{message} (retried: the row may come later)"))
        else:
            self.reject(index, MissingRowError(message, table=sink.table))

    def _retry_parts(self, parts: Sequence[Sequence[_Parsed]], error: SluiceError) -> None:
        self.retry([item.at for part in parts for item in part], error)

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
