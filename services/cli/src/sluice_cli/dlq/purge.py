"""``sluice dlq purge``: delete dead letters for good, all of them or only those older than an age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from sluice_cli.dlq.filters import MessageFilter
from sluice_cli.dlq.scan import DEFAULT_WAIT_SECONDS, Scan
from sluice_shared.errors import SluiceError
from sluice_shared.limits import SQS_MAX_RECEIVE_MESSAGES

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta

    from sluice_cli.dlq.ports import DeadLetterQueue

__all__ = ["PurgeReport", "purge_older_than"]

# Messages younger than the age are released as soon as the purge ends; this bounds how long they stay
# hidden if the process dies mid-way.
DEFAULT_PURGE_VISIBILITY_SECONDS: Final = 60


@dataclass(slots=True, kw_only=True)
class PurgeReport:
    """What a purge by age did: messages read, deleted, kept (younger), and deletes SQS refused."""

    scanned: int = 0
    deleted: int = 0
    kept: int = 0
    not_deleted: int = 0
    error: SluiceError | None = None
    unreleased: int = 0


def purge_older_than(
    dlq: DeadLetterQueue,
    *,
    older_than: timedelta,
    visibility_timeout: int = DEFAULT_PURGE_VISIBILITY_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_progress: Callable[[PurgeReport], None] | None = None,
) -> PurgeReport:
    """Delete every message whose ``SentTimestamp`` is at least ``older_than`` ago; keep the others.

    Messages without a ``SentTimestamp`` are kept. Stops at the first queue error and records it in
    ``report.error``.
    """
    selector = MessageFilter(older_than=older_than)
    report = PurgeReport()
    scan = Scan(dlq, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds)
    try:
        while batch := scan.next_batch(SQS_MAX_RECEIVE_MESSAGES):
            report.scanned += len(batch)
            moment = now()
            old = [message for message in batch if selector.matches(message, now=moment)]
            report.kept += len(batch) - len(old)
            refused = {message.message_id for message in dlq.delete(old)} if old else set()
            scan.settle(message for message in old if message.message_id not in refused)
            report.deleted += len(old) - len(refused)
            report.not_deleted += len(refused)
            if on_progress is not None:
                on_progress(report)
    except SluiceError as exc:
        report.error = exc
    finally:
        report.unreleased = scan.release()
    return report
