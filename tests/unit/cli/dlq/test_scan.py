from __future__ import annotations

from typing import TYPE_CHECKING

from sluice_cli.dlq.scan import Scan
from sluice_shared.errors import QueueUnavailableError
from tests.unit.cli.dlq.fakes import FakeQueue, dead_letter, queue_info

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sluice_cli.dlq.messages import DeadLetter

DLQ = queue_info("events-dlq")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_scan_returns_each_message_once_then_makes_all_visible_again() -> None:
    messages = [dead_letter() for _ in range(23)]
    queue = FakeQueue(DLQ, messages)

    with Scan(queue, visibility_timeout=30) as scan:
        seen = [message.message_id for message in scan.messages(100)]
        assert queue.visible_ids() == []

    assert seen == [message.message_id for message in messages]
    assert scan.exhausted
    assert queue.visible_ids() == seen


def test_scan_stops_at_its_limit_without_reading_further() -> None:
    queue = FakeQueue(DLQ, [dead_letter() for _ in range(30)])

    with Scan(queue, visibility_timeout=30) as scan:
        assert len(list(scan.messages(12))) == 12

    assert queue.receive_calls == 2
    assert not scan.exhausted
    assert len(queue.visible_ids()) == 30


def test_settled_messages_are_not_released() -> None:
    messages = [dead_letter() for _ in range(3)]
    queue = FakeQueue(DLQ, messages)

    with Scan(queue, visibility_timeout=30) as scan:
        batch = scan.next_batch(10)
        queue.delete(batch[:1])
        scan.settle(batch[:1])

    assert queue.visible_ids() == [m.message_id for m in messages[1:]]
    assert ("visibility", messages[0].message_id) not in queue.journal


def test_held_messages_are_kept_hidden_while_a_long_scan_runs() -> None:
    clock = Clock()
    queue = FakeQueue(DLQ, [dead_letter() for _ in range(20)], clock=clock)
    scan = Scan(queue, visibility_timeout=30, clock=clock)

    first = scan.next_batch(10)
    clock.now = 20.0  # more than half the timeout has passed: the next receive extends the hold first
    second = scan.next_batch(10)
    clock.now = 45.0  # the first batch would be visible again by now without the extension

    assert len(first) == len(second) == 10
    assert scan.next_batch(10) == []
    assert queue.visible_ids() == []
    scan.release()
    assert len(queue.visible_ids()) == 20


def test_messages_seen_again_are_not_returned_twice() -> None:
    clock = Clock()
    messages = [dead_letter() for _ in range(2)]
    queue = FakeQueue(DLQ, messages, clock=clock)
    scan = Scan(queue, visibility_timeout=1, clock=clock)

    assert len(scan.next_batch(10)) == 2
    clock.now = 5.0  # the hold lapsed: extending it is refused and the next receive returns both again
    assert scan.next_batch(10) == []
    assert queue.receive_calls == 3
    assert scan.exhausted
    assert scan.seen == 2
    assert scan.release() == 0
    assert queue.visible_ids() == [m.message_id for m in messages]


def test_release_retries_a_transient_failure_then_reports_what_stays_hidden() -> None:
    queue = FakeQueue(DLQ, [dead_letter()])
    slept: list[float] = []
    scan = Scan(queue, visibility_timeout=30, sleep=slept.append)
    scan.next_batch(10)
    calls: list[int] = []

    def unreachable(messages: object, seconds: int) -> list[object]:
        calls.append(seconds)
        raise QueueUnavailableError("endpoint unreachable")

    queue.change_visibility = unreachable  # type: ignore[method-assign,assignment]

    assert scan.release() == 1
    assert calls == [0, 0, 0]
    assert slept == [0.2, 0.4]


def test_release_succeeds_on_a_retry() -> None:
    queue = FakeQueue(DLQ, [dead_letter()])
    scan = Scan(queue, visibility_timeout=30, sleep=lambda _: None)
    scan.next_batch(10)
    real = queue.change_visibility
    failures = [QueueUnavailableError("connection reset")]

    def flaky(messages: Sequence[DeadLetter], seconds: int) -> list[DeadLetter]:
        if failures:
            raise failures.pop()
        return real(messages, seconds)

    queue.change_visibility = flaky  # type: ignore[method-assign]

    assert scan.release() == 0
    assert len(queue.visible_ids()) == 1
