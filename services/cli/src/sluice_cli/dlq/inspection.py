"""``sluice dlq stats`` and ``sluice dlq peek``: look at dead letters without consuming them.

Both read through a :class:`~sluice_cli.dlq.scan.Scan`, which makes every message visible again as soon as
it is done. Reading a message increments its ``ApproximateReceiveCount`` (SQS has no way to read without
receiving); the DLQ has no redrive policy of its own, so this moves nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from sluice_cli.dlq.scan import DEFAULT_WAIT_SECONDS, Scan
from sluice_shared.sqs import QueueDepth

if TYPE_CHECKING:
    from sluice_cli.dlq.messages import DeadLetter
    from sluice_cli.dlq.ports import DeadLetterQueue

__all__ = [
    "DEFAULT_PEEK_VISIBILITY_SECONDS",
    "NO_EVENT_TYPE",
    "DlqStats",
    "collect_stats",
    "peek",
]

# Messages read by stats or peek are released as soon as the read ends; this only bounds how long they stay
# hidden if the process dies mid-way.
DEFAULT_PEEK_VISIBILITY_SECONDS: Final = 30
NO_EVENT_TYPE: Final = "(none)"


@dataclass(frozen=True, slots=True, kw_only=True)
class DlqStats:
    """Depth from SQS's counters; age and per-type counts from the messages the scan read."""

    depth: QueueDepth
    scanned: int = 0
    complete: bool = True
    """True when the scan read every message (none in flight elsewhere, none left unread)."""
    oldest_age: timedelta | None = None
    by_error_type: Counter[str] = field(default_factory=Counter)
    by_event_type: Counter[str] = field(default_factory=Counter)
    by_constraint: Counter[str] = field(default_factory=Counter)
    """Rows the database refused (sinks included), by the constraint they broke."""


def collect_stats(
    dlq: DeadLetterQueue,
    *,
    scan_limit: int,
    visibility_timeout: int = DEFAULT_PEEK_VISIBILITY_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    now: datetime | None = None,
) -> DlqStats:
    """Depth of ``dlq`` and, over at most ``scan_limit`` messages, oldest age and counts by error/event type."""
    depth = dlq.depth()
    if depth.total == 0:
        return DlqStats(depth=depth)
    moment = now or datetime.now(UTC)
    by_error: Counter[str] = Counter()
    by_event: Counter[str] = Counter()
    by_constraint: Counter[str] = Counter()
    oldest: timedelta | None = None
    with Scan(dlq, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds) as scan:
        for message in scan.messages(scan_limit):
            by_error[message.error_type] += 1
            by_event[message.event_type or NO_EVENT_TYPE] += 1
            if message.reason is not None and message.reason.constraint:
                by_constraint[message.reason.constraint] += 1
            age = message.age(moment)
            if age is not None and (oldest is None or age > oldest):
                oldest = age
        read_all = scan.exhausted or scan.seen >= depth.visible
        complete = read_all and depth.in_flight == 0 and depth.delayed == 0
    return DlqStats(
        depth=depth,
        scanned=scan.seen,
        complete=complete,
        oldest_age=oldest,
        by_error_type=by_error,
        by_event_type=by_event,
        by_constraint=by_constraint,
    )


def peek(
    dlq: DeadLetterQueue,
    *,
    limit: int,
    visibility_timeout: int = DEFAULT_PEEK_VISIBILITY_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> list[DeadLetter]:
    """Up to ``limit`` messages, each once; all of them are visible again when this returns."""
    with Scan(dlq, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds) as scan:
        return list(scan.messages(limit))
