"""What ``sluice push`` counts as results stream in: totals, and a few examples per reason, never one entry an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from sluice_shared.errors import InvalidMessageError
from sluice_shared.publisher import EventResult, EventStatus

if TYPE_CHECKING:
    from sluice_shared.errors import MalformedMessageError, SluiceError

__all__ = ["EXAMPLES_PER_REASON", "OTHER_REASONS", "REASONS_KEPT", "REASONS_SHOWN", "PushTally"]

EXAMPLES_PER_REASON: Final = 3
REASONS_SHOWN: Final = 20
# Distinct reasons remembered per outcome: an input where every event fails differently stays bounded.
REASONS_KEPT: Final = 1000
OTHER_REASONS: Final = "other reasons (too many distinct ones to list)"
# The progress bar is redrawn a few times a second at most: updating it for every event would cost more.


@dataclass(slots=True)
class _Reason:
    count: int = 0
    examples: list[int] = field(default_factory=list)


@dataclass(slots=True)
class PushTally:
    """Counts and a few examples per reason, kept as results stream in: never one entry per event."""

    noun: str = "event"
    """What an example is called: ``line`` (JSON Lines, by line number) or ``event`` (by position)."""
    queued: int = 0
    rejected: int = 0
    failed: int = 0
    assigned: int = 0
    """Events that had no ``event_id`` and were given one."""
    stopped: MalformedMessageError | None = None
    """Why reading stopped early (a JSON array that broke off), if it did."""
    _reasons: dict[EventStatus, dict[str, _Reason]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Events (and unreadable lines) accounted for."""
        return self.queued + self.rejected + self.failed

    def record(self, result: EventResult) -> None:
        """Count one result; remember its reason, and the event as an example, when it was not queued."""
        if result.status is EventStatus.QUEUED:
            self.queued += 1
            return
        if result.status is EventStatus.REJECTED:
            self.rejected += 1
        else:
            self.failed += 1
        reasons = self._reasons.setdefault(result.status, {})
        reason = _reason(result.error)
        if reason not in reasons and len(reasons) >= REASONS_KEPT:
            reason = OTHER_REASONS
        entry = reasons.setdefault(reason, _Reason())
        entry.count += 1
        if len(entry.examples) < EXAMPLES_PER_REASON:
            entry.examples.append(result.index)

    def reject(self, number: int, error: InvalidMessageError) -> None:
        """Count an input line that is not an event at all."""
        self.record(EventResult(number, None, EventStatus.REJECTED, error=error))

    def reason_lines(self, status: EventStatus) -> list[str]:
        """``rejected:`` / ``failed:`` then each reason, most frequent first, with up to three examples."""
        reasons = self._reasons.get(status)
        if not reasons:
            return []
        lines = [f"{status.value}:"]
        ranked = sorted(reasons.items(), key=lambda item: -item[1].count)
        for reason, entry in ranked[:REASONS_SHOWN]:
            examples = ", ".join(f"{self.noun} {index}" for index in entry.examples)
            more = ", ..." if entry.count > len(entry.examples) else ""
            lines.append(f"  {entry.count} x {reason} ({examples}{more})")
        if len(ranked) > REASONS_SHOWN:
            lines.append(f"  ... and {len(ranked) - REASONS_SHOWN} other reasons")
        return lines

    def summary(self, *, destination: str) -> list[str]:
        """The end-of-run summary: counts, ids assigned, then each rejection and failure reason."""
        counts = f"sent {self.queued}, rejected {self.rejected}, failed {self.failed}"
        lines = [f"{counts} of {self.total} events to {destination}"]
        if self.assigned:
            lines.append(f"event ids assigned: {self.assigned} (events without one get a new UUIDv7, as at ingest)")
        return [*lines, *self.reason_lines(EventStatus.REJECTED), *self.reason_lines(EventStatus.FAILED)]


def _reason(error: SluiceError | None) -> str:
    if error is None:
        return "unknown"
    if isinstance(error, InvalidMessageError):
        return "; ".join(str(item) for item in error.errors)
    return f"{error.code}: {error.message}"
