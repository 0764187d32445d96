from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sluice_cli.dlq.inspection import NO_EVENT_TYPE, collect_stats, peek
from sluice_cli.dlq.messages import MAX_RECEIVE_COUNT_EXCEEDED
from sluice_cli.dlq.purge import purge_older_than
from sluice_shared.errors import ConstraintViolationError, QueueUnavailableError, UnknownEventTypeError
from tests.unit.cli.dlq.fakes import NOW, FakeQueue, dead_letter, queue_info

if TYPE_CHECKING:
    from sluice_cli.dlq.messages import DeadLetter

DLQ = queue_info("events-dlq")


def _mixed() -> list[DeadLetter]:
    return [
        dead_letter(sent_at=NOW - timedelta(hours=3), event_type="order.created"),
        dead_letter(
            sent_at=NOW - timedelta(hours=1),
            error=UnknownEventTypeError.single("event_type", "x"),
            event_type="shipment.sent",
        ),
        dead_letter(sent_at=NOW - timedelta(days=2), reason=False, event_type="order.created"),
        dead_letter(sent_at=NOW, error=ConstraintViolationError("check"), body="[]"),
    ]


def test_stats_count_by_error_and_event_type_and_find_the_oldest() -> None:
    queue = FakeQueue(DLQ, _mixed())

    stats = collect_stats(queue, scan_limit=100, now=NOW)

    assert (stats.depth.visible, stats.scanned, stats.complete) == (4, 4, True)
    assert stats.oldest_age == timedelta(days=2)
    assert stats.by_error_type == {
        "invalid_message": 1,
        "unknown_event_type": 1,
        MAX_RECEIVE_COUNT_EXCEEDED: 1,
        "constraint_violation": 1,
    }
    assert stats.by_event_type == {"order.created": 2, "shipment.sent": 1, NO_EVENT_TYPE: 1}
    assert len(queue.visible_ids()) == 4


def test_stats_say_when_they_come_from_a_sample() -> None:
    queue = FakeQueue(DLQ, [dead_letter() for _ in range(15)])

    stats = collect_stats(queue, scan_limit=10, now=NOW)

    assert (stats.scanned, stats.complete) == (10, False)
    assert len(queue.visible_ids()) == 15


def test_stats_of_an_empty_queue_read_nothing() -> None:
    queue = FakeQueue(DLQ, [])

    stats = collect_stats(queue, scan_limit=10, now=NOW)

    assert (stats.depth.total, stats.scanned, stats.oldest_age) == (0, 0, None)
    assert queue.receive_calls == 0


def test_peek_shows_messages_without_consuming_them() -> None:
    messages = _mixed()
    queue = FakeQueue(DLQ, messages)

    shown = peek(queue, limit=3)

    assert [message.message_id for message in shown] == [message.message_id for message in messages[:3]]
    assert [message.receive_count for message in shown] == [1, 1, 1]
    assert queue.visible_ids() == [message.message_id for message in messages]


def test_purge_by_age_deletes_only_older_messages_and_releases_the_rest() -> None:
    messages = _mixed()
    queue = FakeQueue(DLQ, messages)

    report = purge_older_than(queue, older_than=timedelta(hours=2), now=lambda: NOW)

    assert (report.scanned, report.deleted, report.kept, report.not_deleted) == (4, 2, 2, 0)
    assert queue.remaining_ids() == [messages[1].message_id, messages[3].message_id]
    assert queue.visible_ids() == queue.remaining_ids()


def test_purge_stops_on_a_queue_error_and_reports_it() -> None:
    queue = FakeQueue(DLQ, _mixed(), fail_receive=QueueUnavailableError("down"))

    report = purge_older_than(queue, older_than=timedelta(hours=2), now=lambda: NOW)

    assert isinstance(report.error, QueueUnavailableError)
    assert report.deleted == 0
