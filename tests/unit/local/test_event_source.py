"""The event source's polling, batching, invocation and deletion logic, against an in-memory queue."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from sluice_local.event_source import EventSource, PollerConfig
from sluice_local.sqs_event import BatchVerdict, lambda_record
from sluice_shared.errors import QueueUnavailableError
from sluice_shared.topology import QueueTopology
from tests.support.local import poll_once
from tests.unit.local.fakes import QUEUE_ARN, REGION, FakeQueue, ManualClock, sqs_message

if TYPE_CHECKING:
    from sluice_cli.context import LocalContext


def ids(messages):
    return [m["MessageId"] for m in messages]


def test_window_zero_invokes_with_what_one_receive_returned():
    # given
    messages = [sqs_message() for _ in range(3)]
    queue = FakeQueue(script=[messages])
    seen = []
    source = EventSource(queue, lambda event, _: seen.append(event), PollerConfig(batch_size=10, poll_wait_seconds=20))

    # when
    report = poll_once(source)

    # then
    assert report is not None
    assert [len(event["Records"]) for event in seen] == [3]
    assert queue.receives == [(10, 20)]
    assert queue.deleted == ids(messages)


def test_batching_window_gathers_up_to_the_batch_size_ten_messages_a_call():
    first, second, third = ([sqs_message() for _ in range(10)], [sqs_message() for _ in range(10)], [sqs_message()])
    queue = FakeQueue(script=[first, second, third])
    seen = []
    config = PollerConfig(batch_size=21, batching_window_seconds=5, poll_wait_seconds=20)

    poll_once(EventSource(queue, lambda event, _: seen.append(event), config, clock=ManualClock()))

    assert [len(event["Records"]) for event in seen] == [21]
    assert queue.receives == [(10, 20), (10, 5), (1, 5)]


def test_batching_window_closes_on_time_with_a_partial_batch():
    clock = ManualClock()
    messages = [sqs_message() for _ in range(4)]
    queue = FakeQueue(script=[messages], clock=clock)
    seen = []
    config = PollerConfig(batch_size=100, batching_window_seconds=2, poll_wait_seconds=20)

    poll_once(EventSource(queue, lambda event, _: seen.append(event), config, clock=clock))

    # one receive got 4, one empty long poll used the rest of the 2 s window, then the batch went out
    assert [len(event["Records"]) for event in seen] == [4]
    assert queue.receives == [(10, 20), (10, 2)]


def test_nothing_received_invokes_nothing():
    queue = FakeQueue()
    calls = []

    report = poll_once(EventSource(queue, lambda *args: calls.append(args)))

    assert report is None
    assert calls == []


def test_only_messages_reported_as_succeeded_are_deleted():
    messages = [sqs_message() for _ in range(3)]
    queue = FakeQueue(script=[messages])

    def handler(event, context):
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}

    report = poll_once(EventSource(queue, handler))

    assert report is not None
    assert queue.deleted == [messages[0]["MessageId"], messages[2]["MessageId"]]
    assert report.verdict.failed == (messages[1]["MessageId"],)


def test_handler_exception_fails_the_whole_batch_and_deletes_nothing():
    messages = [sqs_message() for _ in range(2)]
    queue = FakeQueue(script=[messages])

    def handler(event, context):
        raise RuntimeError("boom")

    source = EventSource(queue, handler)
    report = poll_once(source)

    assert queue.deleted == []
    assert report is not None
    assert report.verdict == BatchVerdict(
        succeeded=(), failed=tuple(ids(messages)), batch_error="function error: RuntimeError: boom"
    )
    assert source.stats.batch_errors == Counter({"function error": 1})


def test_invalid_response_deletes_nothing():
    messages = [sqs_message()]
    queue = FakeQueue(script=[messages])

    poll_once(EventSource(queue, lambda *_: {"batchItemFailures": [{"itemIdentifier": "unknown"}]}))

    assert queue.deleted == []


def test_a_handler_overrunning_its_timeout_fails_the_whole_batch():
    clock = ManualClock()
    messages = [sqs_message()]
    queue = FakeQueue(script=[messages])

    def slow_handler(event, context):
        clock.advance(31)
        return {"batchItemFailures": []}

    report = poll_once(EventSource(queue, slow_handler, PollerConfig(function_timeout_seconds=30), clock=clock))

    assert queue.deleted == []
    assert report is not None
    assert report.verdict.batch_error == "function timed out after 30 s"


def test_context_counts_down_from_the_function_timeout():
    clock = ManualClock()
    queue = FakeQueue(script=[[sqs_message()]])
    remaining = []

    def handler(event, context: LocalContext):
        remaining.append(context.get_remaining_time_in_millis())
        clock.advance(2.5)
        remaining.append(context.get_remaining_time_in_millis())
        assert context.function_name == "sluice-consumer"
        assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:000000000000:function:sluice-consumer"

    poll_once(EventSource(queue, handler, PollerConfig(function_timeout_seconds=10), clock=clock))

    assert remaining == [10_000, 7_500]


def test_records_over_the_payload_limit_wait_for_the_next_batch():
    messages = [sqs_message(json.dumps({"pad": "x" * 1000})) for _ in range(3)]
    record_size = len(json.dumps(lambda_record(messages[0], queue_arn=QUEUE_ARN, region=REGION)))
    queue = FakeQueue(script=[messages])
    seen = []
    config = PollerConfig(batch_size=10, max_payload_bytes=2 * record_size + 10)
    source = EventSource(queue, lambda event, _: seen.append([r["messageId"] for r in event["Records"]]), config)

    poll_once(source)
    poll_once(source)

    assert seen == [ids(messages[:2]), ids(messages[2:])]
    assert queue.deleted == ids(messages)


def test_stop_releases_messages_received_but_never_invoked():
    messages = [sqs_message() for _ in range(3)]
    queue = FakeQueue(script=[messages])
    calls = []
    source = EventSource(queue, lambda *args: calls.append(args), PollerConfig(max_payload_bytes=1))

    poll_once(source)  # the payload limit leaves two records carried over
    source.stop(timeout=1)

    assert len(calls) == 1
    assert queue.released == ids(messages[1:])
    assert source.stats.released == 2


def test_a_receive_error_mid_window_keeps_what_was_gathered():
    messages = [sqs_message() for _ in range(2)]
    queue = FakeQueue(script=[messages, QueueUnavailableError("throttled")])
    seen = []
    source = EventSource(
        queue,
        lambda event, _: seen.append(len(event["Records"])),
        PollerConfig(batch_size=20, batching_window_seconds=1),
    )

    with pytest.raises(QueueUnavailableError):
        poll_once(source)
    poll_once(source)

    assert seen == [2]
    assert queue.deleted == ids(messages)


def test_a_transient_delete_error_is_retried():
    messages = [sqs_message()]
    queue = FakeQueue(script=[messages], delete_errors=[QueueUnavailableError("blip")])

    report = poll_once(EventSource(queue, lambda *_: None))

    assert queue.deleted == ids(messages)
    assert report is not None
    assert report.not_deleted == ()


def test_messages_sqs_would_not_delete_are_reported():
    messages = [sqs_message() for _ in range(2)]
    queue = FakeQueue(script=[messages], refuse_delete={messages[0]["MessageId"]})

    source = EventSource(queue, lambda *_: None)
    report = poll_once(source)

    assert report is not None
    assert report.not_deleted == (messages[0]["MessageId"],)
    assert source.stats.deleted == 1
    assert source.stats.delete_errors == 1


def test_config_from_topology_takes_batch_size_window_and_function_timeout():
    topology = QueueTopology(consumer_timeout_seconds=3, batch_size=50, batching_window_seconds=1).validate()

    config = PollerConfig.from_topology(topology, max_concurrency=4)

    assert config == PollerConfig(
        batch_size=50, batching_window_seconds=1, function_timeout_seconds=3, max_concurrency=4
    )


def test_time_inside_the_handler_is_counted_apart_from_polling_and_deleting():
    # given: a handler that takes 50 ms for a batch of 5
    messages = [sqs_message() for _ in range(5)]
    queue = FakeQueue(script=[messages])

    def handler(event, _context):
        time.sleep(0.05)
        return {"batchItemFailures": []}

    source = EventSource(queue, handler, PollerConfig(batch_size=10))

    # when
    report = poll_once(source)

    # then: the handler's own time is reported, and the rate is records per second of it
    assert report is not None
    stats = source.stats
    assert 0.05 <= report.handler_seconds <= report.duration_seconds + 0.001
    assert stats.handler_seconds == report.handler_seconds
    assert stats.handler_rate == pytest.approx(5 / report.handler_seconds)


def test_the_handler_rate_leaves_out_the_cold_first_invocation():
    # given: a first batch of 2 that takes 200 ms (cold start), then two of 5 that take 10 ms each
    queue = FakeQueue(script=[[sqs_message() for _ in range(2)], *[[sqs_message() for _ in range(5)]] * 2])
    delays = iter([0.2, 0.01, 0.01])

    def handler(event, _context):
        time.sleep(next(delays))
        return {"batchItemFailures": []}

    source = EventSource(queue, handler, PollerConfig(batch_size=10))

    # when
    reports = [report for _ in range(3) if (report := poll_once(source)) is not None]

    # then: the rate is the warm batches' records over the warm batches' handler time
    stats = source.stats
    assert len(reports) == 3
    warm = [report.handler_seconds for report in reports[1:]]
    assert (stats.first_handler_records, stats.first_handler_seconds) == (2, reports[0].handler_seconds)
    assert stats.handler_rate == pytest.approx(10 / sum(warm))
