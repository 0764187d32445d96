"""The local event source against a real SQS endpoint (moto server): one test per documented Lambda rule.

Rules from the Lambda developer guide, "Handling errors for an SQS event source in Lambda" ("Reporting batch
item failures") and "Using Lambda with Amazon SQS" (event shape, batching window, concurrency).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from sluice_local.event_source import EventSource
from sluice_local.queues import create_queues
from sluice_shared.sqs import QueueDepth, SqsQueue
from sluice_shared.topology import QueueTopology
from tests.support.local import poll_once

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

    from sluice_local.batch_stats import BatchReport
    from sluice_local.queues import LocalQueues

WAIT_LIMIT_SECONDS = 60  # how long a test waits for SQS to redeliver before it gives up


def send(
    client: SQSClient,
    queue_url: str,
    count: int,
    *,
    message_attributes: Mapping[str, MessageAttributeValueTypeDef] | None = None,
) -> list[str]:
    """Send ``count`` numbered bodies (each with ``message_attributes`` when given); return the bodies in order."""
    bodies = [json.dumps({"n": index}) for index in range(count)]
    for start in range(0, count, 10):
        entries: list[SendMessageBatchRequestEntryTypeDef] = []
        for index, body in enumerate(bodies[start : start + 10]):
            entry: SendMessageBatchRequestEntryTypeDef = {"Id": str(index), "MessageBody": body}
            if message_attributes is not None:
                entry["MessageAttributes"] = message_attributes
            entries.append(entry)
        client.send_message_batch(QueueUrl=queue_url, Entries=entries)
    return bodies


def depth(client: SQSClient, queues: LocalQueues) -> QueueDepth:
    return SqsQueue(queues.queue_url, client=client).depth()


def poll_until_batch(source: EventSource) -> BatchReport:
    """Poll on this thread until a batch is handled (redelivery takes one visibility timeout)."""
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        report = poll_once(source)
        if report is not None:
            return report
    raise AssertionError(f"no batch within {WAIT_LIMIT_SECONDS} s")


@pytest.mark.parametrize(
    "response",
    [
        pytest.param({"batchItemFailures": []}, id="empty-failure-list"),
        pytest.param({"batchItemFailures": None}, id="null-failure-list"),
        pytest.param({}, id="empty-response"),
        pytest.param(None, id="null-response"),
    ],
)
def test_complete_success_deletes_every_message(sqs_client, queues, event_source_for, response):
    send(sqs_client, queues.queue_url, 3)
    source = event_source_for(lambda *_: response)

    report = poll_once(source)

    assert report is not None
    assert len(report.verdict.succeeded) == 3
    assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=0)


def test_listed_failures_stay_and_are_redelivered_after_the_visibility_timeout(
    sqs_client, sqs_clock, queues, event_source_for
):
    # given a batch whose second message fails
    bodies = send(sqs_client, queues.queue_url, 3)
    failing_body = bodies[1]

    def handler(event, context):
        failed = [r["messageId"] for r in event["Records"] if r["body"] == failing_body]
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failed]}

    source = event_source_for(handler)

    # when
    first = poll_once(source)

    # then only the failed one is left, invisible until the visibility timeout expires
    assert first is not None
    assert len(first.verdict.succeeded) == 2
    assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=1)
    redelivered: list[dict[str, Any]] = []
    source.handler = lambda event, _context: redelivered.extend(event["Records"])
    assert poll_once(source) is None  # a whole long poll: still hidden
    sqs_clock.advance(queues.topology.effective_visibility_timeout_seconds)  # instead of waiting it out
    poll_until_batch(source)
    assert [(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in redelivered] == [(failing_body, "2")]
    assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=0)


def _raise(event, context):
    raise RuntimeError("handler crashed")


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        pytest.param(
            lambda *_: {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]},
            "itemIdentifier 'not-in-this-batch' is not a message of this batch",
            id="unknown-item-identifier",
        ),
        pytest.param(
            lambda *_: {"batchItemFailures": [{"itemIdentifier": ""}]},
            "empty itemIdentifier",
            id="empty-item-identifier",
        ),
        pytest.param(
            lambda *_: {"batchItemFailures": [{"itemIdentifier": None}]},
            "null itemIdentifier",
            id="null-item-identifier",
        ),
        pytest.param(
            lambda event, _context: {"batchItemFailures": [{"messageId": event["Records"][0]["messageId"]}]},
            "batch item failure without 'itemIdentifier' (keys: ['messageId'])",
            id="bad-key-name",
        ),
        pytest.param(
            lambda event, _context: [r["messageId"] for r in event["Records"]],
            "invalid response: a JSON list",
            id="invalid-response",
        ),
        pytest.param(_raise, "function error: RuntimeError: handler crashed", id="exception"),
    ],
)
def test_whole_batch_fails_and_nothing_is_deleted(sqs_client, queues, event_source_for, handler, reason):
    send(sqs_client, queues.queue_url, 3)
    source = event_source_for(handler)

    report = poll_once(source)

    assert report is not None
    assert report.verdict.batch_error == reason
    assert report.verdict.succeeded == ()
    assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=3)


def test_a_handler_running_past_the_function_timeout_fails_the_batch(sqs_client, queues, event_source_for):
    send(sqs_client, queues.queue_url, 1)
    remaining: list[int] = []

    def slow(event, context):
        remaining.append(context.get_remaining_time_in_millis())
        while context.get_remaining_time_in_millis() > 0:
            time.sleep(0.05)
        time.sleep(0.05)
        return {"batchItemFailures": []}

    report = poll_once(event_source_for(slow))

    assert report is not None
    assert report.verdict.batch_error == "function timed out after 1 s"
    assert 0 < remaining[0] <= 1000
    assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=1)


def test_a_message_failing_max_receive_count_times_moves_to_the_dlq(sqs_client, sqs_clock, queues, event_source_for):
    # given a message that always fails
    [body] = send(sqs_client, queues.queue_url, 1)
    receive_counts: list[str] = []

    def always_fails(event, context):
        receive_counts.extend(r["attributes"]["ApproximateReceiveCount"] for r in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    source = event_source_for(always_fails)

    # when it is received maxReceiveCount times (SQS's clock moved past each visibility timeout, not waited out)
    for _ in range(queues.topology.max_receive_count):
        poll_until_batch(source)
        assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=1)
        sqs_clock.advance(queues.topology.effective_visibility_timeout_seconds)

    # then SQS's redrive policy moves it to the DLQ on the next receive
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    dead: list[dict[str, Any]] = []
    while not dead and time.monotonic() < deadline:
        poll_once(source)
        dead = sqs_client.receive_message(QueueUrl=queues.dlq_url, WaitTimeSeconds=1).get("Messages", [])
    assert receive_counts == ["1", "2", "3", "4", "5"]
    assert [m["Body"] for m in dead] == [body]
    assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=0)


def test_records_have_the_lambda_sqs_event_shape(sqs_client, queues, event_source_for):
    attributes: dict[str, MessageAttributeValueTypeDef] = {
        "trace": {"DataType": "String", "StringValue": "abc"},
        "n": {"DataType": "Number", "StringValue": "7"},
    }
    [body] = send(sqs_client, queues.queue_url, 1, message_attributes=attributes)
    events: list[dict[str, Any]] = []
    source = event_source_for(lambda event, _context: events.append(event))

    poll_once(source)

    [record] = events[0]["Records"]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfMessageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's checksum
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert all(isinstance(value, str) for value in record["attributes"].values())
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "trace": {"stringValue": "abc", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "n": {"stringValue": "7", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
    }
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs",
        queues.queue_arn,
        "us-east-1",
    )
    SqsModel.model_validate(events[0])


def test_fifo_records_carry_group_deduplication_and_sequence(sqs_client, unique_name):
    topology = QueueTopology(consumer_timeout_seconds=1, batch_size=10, batching_window_seconds=0, fifo=True)
    fifo = create_queues(sqs_client, name=unique_name, topology=topology.validate())
    sqs_client.send_message_batch(
        QueueUrl=fifo.queue_url,
        Entries=[
            {"Id": str(n), "MessageBody": str(n), "MessageGroupId": "customer-1", "MessageDeduplicationId": f"d-{n}"}
            for n in range(2)
        ],
    )
    events: list[dict[str, Any]] = []
    source = EventSource(
        SqsQueue(fifo.queue_url, client=sqs_client), lambda event, _context: events.append(event), None
    )

    poll_once(source)

    records = events[0]["Records"]
    assert [r["attributes"]["MessageGroupId"] for r in records] == ["customer-1", "customer-1"]
    assert [r["attributes"]["MessageDeduplicationId"] for r in records] == ["d-0", "d-1"]
    # moto draws sequence numbers at random (SQS's increase): only their form is checked here.
    assert all(r["attributes"]["SequenceNumber"].isdigit() for r in records)
    assert records[0]["eventSourceARN"] == fifo.queue_arn
    assert fifo.queue_arn.endswith(".fifo")


def test_the_batching_window_gathers_more_than_one_receive(sqs_client, queues, event_source_for):
    send(sqs_client, queues.queue_url, 25)
    sizes: list[int] = []
    source = event_source_for(
        lambda event, _context: sizes.append(len(event["Records"])), batch_size=25, batching_window_seconds=1
    )

    poll_once(source)

    assert sizes == [25]


def test_at_most_max_concurrency_batches_are_handled_at_once(sqs_client, queues, event_source_for):
    # given two pollers that each handle one message per batch
    send(sqs_client, queues.queue_url, 4)
    both_inside = threading.Barrier(2, timeout=WAIT_LIMIT_SECONDS)
    lock = threading.Lock()
    active = [0]
    most = [0]

    def handler(event, context):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        both_inside.wait()  # returns only when the other poller is inside a batch too
        with lock:
            active[0] -= 1

    source = event_source_for(handler, batch_size=1, max_concurrency=2)

    # when
    source.start()
    wait_for(lambda: source.stats.deleted == 4)
    source.stop(timeout=10)

    # then
    assert most[0] == 2
    assert source.stats.batches == 4
    assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=0)


def test_stop_lets_the_batch_in_flight_finish_and_deletes_it(sqs_client, queues, event_source_for):
    send(sqs_client, queues.queue_url, 1)
    inside = threading.Event()
    release = threading.Event()

    def handler(event, context):
        inside.set()
        release.wait(WAIT_LIMIT_SECONDS)

    source = event_source_for(handler, max_concurrency=1)
    source.start()
    assert inside.wait(WAIT_LIMIT_SECONDS)

    stopper = threading.Thread(target=source.stop, kwargs={"timeout": WAIT_LIMIT_SECONDS})
    stopper.start()
    release.set()
    stopper.join()

    assert source.stats.deleted == 1
    assert not source.alive
    assert depth(sqs_client, queues) == QueueDepth(visible=0, in_flight=0)


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {WAIT_LIMIT_SECONDS} s")
        time.sleep(0.05)
