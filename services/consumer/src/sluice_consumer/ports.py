"""The consumer's ports and the values that cross them: rows to store, write results, dead letters, outcomes.

:func:`sluice_consumer.logic.consume_batch` works over two small ports, :class:`EventStore` (PostgreSQL in
:mod:`sluice_consumer.store`) and :class:`DeadLetterSink` (SQS in :mod:`sluice_consumer.dead_letters`); tests
use in-memory fakes of both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypedDict

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from sluice_consumer.deadline import Deadline
    from sluice_consumer.records import SqsRecord
    from sluice_consumer.sink_mapping import SinkWrite
    from sluice_shared.errors import ConflictingDuplicateError, PermanentError, SluiceError
    from sluice_shared.sinks import Sink

__all__ = [
    "BatchItemFailure",
    "BatchResult",
    "DeadLetter",
    "DeadLetterSink",
    "Disposition",
    "EventRow",
    "EventStore",
    "MessageOutcome",
    "PartialBatchResponse",
    "WriteResult",
]


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

    def store(
        self, rows: Sequence[EventRow], *, deadline: Deadline, effects: Sequence[Sequence[SinkWrite]] = ()
    ) -> WriteResult:
        """Insert ``rows`` atomically, skipping ``event_id`` values already stored; write new rows' ``effects``.

        ``effects`` (aligned with ``rows``, or empty) are the sink rows of each event, written in the same
        transaction for the events that are new.

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
    sink_counts: Mapping[tuple[str, str], int] = field(default_factory=dict, compare=False)
    """Sink rows by (table, outcome) over the whole batch."""

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
