"""SendPipeline: bounded requests in flight, every outcome once, each FIFO message group in order."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from sluice_shared.catalog import default_registry
from sluice_shared.errors import QueueNotFoundError, SluiceError
from sluice_shared.limits import SQS_MAX_BATCH_ENTRIES
from sluice_shared.publisher import EventPublisher, EventStatus
from sluice_shared.sqs import OutgoingMessage, SendOutcome, SendPipeline
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events"
FIFO_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo"


@dataclass
class SlowQueue:
    """A ``MessageSender`` whose requests take a random moment; it records what runs at once and in what order."""

    queue_url: str = QUEUE_URL
    error: SluiceError | None = None
    max_delay: float = 0.004
    running: int = 0
    peak: int = 0
    requests: int = 0
    # Per group, the keys in the order the queue received them; and per group, requests running right now.
    received: dict[str | None, list[str]] = field(default_factory=lambda: defaultdict(list))
    group_overlaps: int = 0
    _busy_groups: dict[str | None, int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        on_sent: Callable[[Sequence[SendOutcome]], None] | None = None,  # noqa: ARG002 - the pipeline passes none
    ) -> list[SendOutcome]:
        assert len(messages) <= SQS_MAX_BATCH_ENTRIES
        groups = {message.group_id for message in messages}
        with self._lock:
            self.requests += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            for group in groups:
                if self.group_id_is_fifo(group) and self._busy_groups[group]:
                    self.group_overlaps += 1
                self._busy_groups[group] += 1
            for message in messages:
                self.received[message.group_id].append(message.key)
            delay = self._rng.random() * self.max_delay
        time.sleep(delay)
        with self._lock:
            self.running -= 1
            for group in groups:
                self._busy_groups[group] -= 1
        if self.error is not None:
            return [SendOutcome(m.key, error=self.error, attempts=1) for m in messages]
        return [SendOutcome(m.key, message_id=f"m-{m.key}", attempts=1) for m in messages]

    @staticmethod
    def group_id_is_fifo(group: str | None) -> bool:
        return group is not None


def _message(key: int, group: str | None = None, body: str = "{}") -> OutgoingMessage:
    return OutgoingMessage(key=str(key), body=body, group_id=group, deduplication_id=str(key) if group else None)


def _run(pipeline: SendPipeline, messages: list[OutgoingMessage]) -> list[SendOutcome]:
    outcomes: list[SendOutcome] = []
    for message in messages:
        for settled in pipeline.add(message):
            outcomes.extend(settled)
    for settled in pipeline.flush():
        outcomes.extend(settled)
    return outcomes


@pytest.mark.parametrize("max_in_flight", [1, 4])
def test_every_message_settles_exactly_once_with_at_most_n_requests_in_flight(max_in_flight: int) -> None:
    queue = SlowQueue()

    with SendPipeline(queue, max_in_flight=max_in_flight) as pipeline:
        outcomes = _run(pipeline, [_message(i) for i in range(205)])

    assert sorted(int(o.key) for o in outcomes) == list(range(205))
    assert all(o.ok for o in outcomes)
    assert queue.requests == 21  # 20 full requests of 10, then the last 5
    assert queue.peak == max_in_flight


def test_requests_respect_the_total_size_limit() -> None:
    queue = SlowQueue(max_delay=0)
    big = "x" * (400 * 1024)  # two fit in a 1 MiB request, not three

    with SendPipeline(queue, max_in_flight=2) as pipeline:
        outcomes = _run(pipeline, [_message(i, body=big) for i in range(5)])

    assert len(outcomes) == 5
    assert queue.requests == 3


def test_a_fifo_group_is_received_in_order_and_never_in_two_requests_at_once() -> None:
    # given: 600 messages over 5 groups, interleaved at random, and a queue whose requests take random times
    rng = random.Random(3)
    groups = [f"g{rng.randrange(5)}" for _ in range(600)]
    queue = SlowQueue(queue_url=FIFO_URL)

    with SendPipeline(queue, max_in_flight=4) as pipeline:
        outcomes = _run(pipeline, [_message(i, group) for i, group in enumerate(groups)])

    # then: each group reached the queue in input order, with no overlap, while lanes ran side by side
    assert len(outcomes) == 600
    for group in set(groups):
        assert queue.received[group] == [str(i) for i, g in enumerate(groups) if g == group]
    assert queue.group_overlaps == 0
    assert queue.peak > 1


def test_messages_still_filling_can_be_taken_back_unsent() -> None:
    queue = SlowQueue(max_delay=0)

    with SendPipeline(queue, max_in_flight=2) as pipeline:
        for i in range(13):
            pipeline.add(_message(i))
        taken = pipeline.discard()
        pipeline.flush()

    assert [m.key for m in taken] == ["10", "11", "12"]
    assert queue.requests == 1


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SendPipeline(SlowQueue(), max_in_flight=0)


def _numbered(count: int) -> list[tuple[int, Any]]:
    return [(i * 2 + 1, event_dict(event_id=f"00000000-0000-4000-8000-{i:012d}")) for i in range(count)]


def test_stream_yields_one_result_per_numbered_event_whatever_the_order() -> None:
    queue = SlowQueue()
    publisher = EventPublisher(queue, registry=default_registry())
    events = [*_numbered(57), (999, {"not": "an event"})]

    results = list(publisher.stream(events, max_in_flight=4))

    assert sorted(r.index for r in results) == sorted(number for number, _ in events)
    by_index = {r.index: r for r in results}
    assert by_index[999].status is EventStatus.REJECTED
    assert all(by_index[number].status is EventStatus.QUEUED for number, _ in events[:-1])
    assert by_index[1].event_id == "00000000-0000-4000-8000-000000000000"


def test_stream_fails_the_rest_without_sending_once_the_queue_is_gone() -> None:
    queue = SlowQueue(error=QueueNotFoundError("queue does not exist"))
    publisher = EventPublisher(queue, registry=default_registry())

    results = list(publisher.stream(_numbered(200), max_in_flight=3))

    assert len(results) == 200
    assert {r.status for r in results} == {EventStatus.FAILED}
    assert all(isinstance(r.error, QueueNotFoundError) for r in results)
    # The requests in flight when the first answer came, and the one that was waiting for a free slot: no more.
    assert queue.requests <= 3 + 1
