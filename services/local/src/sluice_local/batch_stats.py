"""What the local event source reports: one invocation's outcome, and counters over all of them."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sluice_local.sqs_event import BatchVerdict

__all__ = ["BatchReport", "EventSourceStats", "StatsBook"]


@dataclass(frozen=True, slots=True)
class BatchReport:
    """One invocation: its request id, the messages it carried, what was deleted and why the rest was not."""

    request_id: str
    message_ids: tuple[str, ...]
    verdict: BatchVerdict
    not_deleted: tuple[str, ...] = ()
    duration_seconds: float = 0.0
    handler_seconds: float = 0.0
    """Time spent inside the handler alone (the rest of ``duration_seconds`` is deleting)."""


@dataclass(slots=True)
class EventSourceStats:
    """Counters since the event source was created."""

    batches: int = 0
    records: int = 0
    deleted: int = 0
    failed_records: int = 0
    batch_errors: Counter[str] = field(default_factory=Counter)
    delete_errors: int = 0
    released: int = 0
    in_flight_batches: int = 0
    handler_seconds: float = 0.0
    """Time spent inside the handler, summed over batches (concurrent batches each count their own)."""
    first_handler_records: int = 0
    first_handler_seconds: float = 0.0
    """The first invocation's records and handler time: it pays the cold start (imports, the first connection)."""

    @property
    def handler_rate(self) -> float:
        """Records per second of handler time once warm (the first invocation left out when there are others).

        The consumer's own speed, whatever the queue around it.
        """
        records, seconds = self.records, self.handler_seconds
        if self.batches > 1:
            records, seconds = records - self.first_handler_records, seconds - self.first_handler_seconds
        return records / seconds if seconds > 0 else 0.0

    def snapshot(self) -> EventSourceStats:
        """A copy that later batches do not change."""
        return replace(self, batch_errors=Counter(self.batch_errors))


class StatsBook:
    """The event source's counters, updated by its pollers from any thread, and who to tell about each batch."""

    def __init__(self, on_batch: Callable[[BatchReport], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._stats = EventSourceStats()
        self._on_batch = on_batch

    def snapshot(self) -> EventSourceStats:
        """A copy of the counters."""
        with self._lock:
            return self._stats.snapshot()

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count one batch as being handled for the duration of the block."""
        with self._lock:
            self._stats.in_flight_batches += 1
        try:
            yield
        finally:
            with self._lock:
                self._stats.in_flight_batches -= 1

    def released(self, count: int) -> None:
        """Count ``count`` received messages made visible again without an invocation."""
        with self._lock:
            self._stats.released += count

    def record(self, report: BatchReport) -> None:
        """Count one invocation, then pass its report on."""
        with self._lock:
            if not self._stats.batches:
                self._stats.first_handler_records = len(report.message_ids)
                self._stats.first_handler_seconds = report.handler_seconds
            self._stats.batches += 1
            self._stats.records += len(report.message_ids)
            self._stats.deleted += len(report.verdict.succeeded) - len(report.not_deleted)
            self._stats.failed_records += len(report.verdict.failed)
            self._stats.delete_errors += len(report.not_deleted)
            self._stats.handler_seconds += report.handler_seconds
            if report.verdict.batch_error is not None:
                self._stats.batch_errors[_error_kind(report.verdict.batch_error)] += 1
        if self._on_batch is not None:
            self._on_batch(report)


def _error_kind(reason: str) -> str:
    """The part of a whole-batch failure reason before its details, for counting by kind."""
    return reason.split(":", 1)[0]
