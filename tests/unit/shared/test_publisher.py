from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from sluice_shared.aws import NO_REGION_MESSAGE
from sluice_shared.catalog import default_registry
from sluice_shared.errors import (
    ConfigurationError,
    InvalidMessageError,
    MessageRejectedError,
    MessageTooLargeError,
    QueueNotFoundError,
    QueueUnavailableError,
)
from sluice_shared.publisher import CORRELATION_ID_ATTRIBUTE, EventPublisher, EventStatus
from sluice_shared.sqs import BatchSender, RetryPolicy, is_fifo_queue
from tests.support.factories import event_dict

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events"
FIFO_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo"


@pytest.fixture
def client() -> Any:
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _publisher(client: Any, url: str = QUEUE_URL, **options: Any) -> EventPublisher:
    sender = BatchSender(url, client=client, retry=RetryPolicy(max_attempts=3), sleep=lambda _: None, rng=lambda: 1.0)
    return EventPublisher(sender, registry=default_registry(), **options)


def _ok(*ids: str) -> dict[str, Any]:
    return {"Successful": [{"Id": i, "MessageId": f"m-{i}", "MD5OfMessageBody": "x"} for i in ids], "Failed": []}


def _events(count: int) -> list[dict[str, Any]]:
    return [event_dict(event_id=f"00000000-0000-4000-8000-{i:012d}") for i in range(count)]


def test_invalid_events_are_reported_with_their_reason_and_never_sent(client: Any) -> None:
    # given: a valid event between an event with a naive timestamp and one that is not an object
    valid = event_dict()
    events = [event_dict(occurred_at="2026-01-01T00:00:00"), valid, "not an event"]
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            _ok("0"),
            {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "0", "MessageBody": ANY}]},
        )

        receipt = _publisher(client).publish(events)

        stub.assert_no_pending_responses()
    assert [(r.index, r.status, r.message_id) for r in receipt.results] == [
        (0, EventStatus.REJECTED, None),
        (1, EventStatus.QUEUED, "m-0"),
        (2, EventStatus.REJECTED, None),
    ]
    assert receipt.results[1].event_id == valid["event_id"]
    first, last = receipt.results[0].error, receipt.results[2].error
    assert isinstance(first, InvalidMessageError)
    assert first.field == "occurred_at"
    assert isinstance(last, InvalidMessageError)
    assert last.reason == "an event must be a JSON object, not a string"
    assert receipt.to_dict()["rejected"] == 2


def test_payload_violating_its_model_is_rejected_with_the_payload_field(client: Any) -> None:
    event = event_dict(event_type="user.signed_up", payload={"user_id": "u1", "email": "x@y.io", "plan": "gold"})
    with Stubber(client) as stub:
        receipt = _publisher(client).publish([event])
        stub.assert_no_pending_responses()

    assert receipt.to_dict()["results"][0]["error"]["fields"] == [
        {"field": "payload.plan", "reason": "Input should be 'free', 'pro' or 'enterprise'"}
    ]


def test_events_are_sent_in_batches_of_ten_with_a_receipt_per_event(client: Any) -> None:
    events = _events(25)
    with Stubber(client) as stub:
        for size in (10, 10, 5):
            stub.add_response(
                "send_message_batch", _ok(*map(str, range(size))), {"QueueUrl": QUEUE_URL, "Entries": ANY}
            )

        receipt = _publisher(client).publish(events)

        stub.assert_no_pending_responses()
    assert receipt.ok
    assert [r.event_id for r in receipt.queued] == [e["event_id"] for e in events]
    assert [r.message_id for r in receipt.results] == [f"m-{i % 10}" for i in range(25)]


def test_batches_are_split_by_total_size_below_ten_entries(client: Any) -> None:
    # Three events of ~400 KiB: two fit in one 1 MiB SendMessageBatch request, the third needs another.
    events = [event_dict(event_type="note.added", payload={"text": "x" * (400 * 1024)}) for _ in range(3)]
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", _ok("0", "1"), {"QueueUrl": QUEUE_URL, "Entries": ANY})
        stub.add_response("send_message_batch", _ok("0"), {"QueueUrl": QUEUE_URL, "Entries": ANY})

        receipt = _publisher(client).publish(events)

        stub.assert_no_pending_responses()
    assert [r.status for r in receipt.results] == [EventStatus.QUEUED] * 3


def test_an_event_over_the_size_limit_is_rejected_with_a_clear_error(client: Any) -> None:
    event = event_dict(event_type="note.added", payload={"text": "x" * (1024 * 1024)})
    with Stubber(client) as stub:
        receipt = _publisher(client).publish([event])
        stub.assert_no_pending_responses()

    error = receipt.results[0].error
    assert isinstance(error, MessageTooLargeError)
    assert error.reason.startswith("body is 1048")
    assert error.reason.endswith("bytes; the limit is 1032192 bytes")


def test_only_entries_sqs_failed_are_retried_and_accepted_ones_never_resent(client: Any) -> None:
    events = _events(3)
    first = {
        "Successful": [{"Id": "0", "MessageId": "m-0", "MD5OfMessageBody": "x"}],
        "Failed": [
            {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"},
            {"Id": "2", "SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad characters"},
        ],
    }
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", first, {"QueueUrl": QUEUE_URL, "Entries": ANY})
        stub.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "1", "MessageId": "m-1", "MD5OfMessageBody": "x"}], "Failed": []},
            {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "1", "MessageBody": ANY}]},
        )

        receipt = _publisher(client).publish(events)

        stub.assert_no_pending_responses()
    assert [(r.status, r.message_id) for r in receipt.results] == [
        (EventStatus.QUEUED, "m-0"),
        (EventStatus.QUEUED, "m-1"),
        (EventStatus.REJECTED, None),
    ]
    assert isinstance(receipt.results[2].error, MessageRejectedError)


def test_throttling_is_retried_then_succeeds(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("send_message_batch", "ThrottlingException", "slow down", 400)
        stub.add_client_error("send_message_batch", "RequestThrottled", "slow down", 400)
        stub.add_response("send_message_batch", _ok("0", "1"), {"QueueUrl": QUEUE_URL, "Entries": ANY})

        receipt = _publisher(client).publish(_events(2))

        stub.assert_no_pending_responses()
    assert [r.message_id for r in receipt.results] == ["m-0", "m-1"]


def test_throttling_that_outlasts_the_retries_fails_the_events_without_losing_them(client: Any) -> None:
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("send_message_batch", "ThrottlingException", "slow down", 400)

        receipt = _publisher(client).publish(_events(2))

        stub.assert_no_pending_responses()
    assert [r.status for r in receipt.results] == [EventStatus.FAILED, EventStatus.FAILED]
    assert all(isinstance(r.error, QueueUnavailableError) for r in receipt.results)
    assert [r.event_id for r in receipt.failed] == [e["event_id"] for e in _events(2)]


def test_a_missing_queue_fails_the_rest_without_more_calls(client: Any) -> None:
    # given: 25 events; the first request (10 of them) says the queue does not exist
    with Stubber(client) as stub:
        stub.add_client_error("send_message_batch", "AWS.SimpleQueueService.NonExistentQueue", "no queue", 400)

        receipt = _publisher(client).publish(_events(25))

        stub.assert_no_pending_responses()
    assert len(receipt.failed) == 25
    assert all(isinstance(r.error, QueueNotFoundError) for r in receipt.results)


def test_fifo_messages_get_the_group_from_the_configured_field_and_dedup_from_event_id(client: Any) -> None:
    event = event_dict(payload={"order_id": "o-42", "reason": "late"})
    expected_entry = {
        "Id": "0",
        "MessageBody": ANY,
        "MessageGroupId": "o-42",
        "MessageDeduplicationId": event["event_id"],
    }
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", _ok("0"), {"QueueUrl": FIFO_URL, "Entries": [expected_entry]})

        receipt = _publisher(client, FIFO_URL, fifo_group_field="payload.order_id").publish([event])

        stub.assert_no_pending_responses()
    assert receipt.ok


def test_fifo_event_without_the_group_field_is_rejected_naming_the_field(client: Any) -> None:
    with Stubber(client) as stub:
        receipt = _publisher(client, FIFO_URL, fifo_group_field="payload.customer_id").publish([event_dict()])
        stub.assert_no_pending_responses()

    error = receipt.results[0].error
    assert isinstance(error, InvalidMessageError)
    assert error.field == "payload.customer_id"


def test_correlation_id_and_trace_header_travel_as_attributes(client: Any) -> None:
    event = event_dict()
    expected_entry = {
        "Id": "0",
        "MessageBody": ANY,
        "MessageAttributes": {CORRELATION_ID_ATTRIBUTE: {"DataType": "String", "StringValue": "req-7"}},
        "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5e1b4151-abc"}},
    }
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", _ok("0"), {"QueueUrl": QUEUE_URL, "Entries": [expected_entry]})

        receipt = _publisher(client).publish([event], correlation_id="req-7", trace_header="Root=1-5e1b4151-abc")

        stub.assert_no_pending_responses()
    assert receipt.ok


def test_validated_body_is_the_canonical_envelope(client: Any) -> None:
    event = event_dict(occurred_at="2026-11-26T13:00:00+01:00")
    message = _publisher(client).prepare(event)

    assert json.loads(message.body) == {**event, "occurred_at": "2026-11-26T13:00:00+01:00"}


def test_skipping_validation_sends_events_exactly_as_given(client: Any) -> None:
    broken = {"event_id": "not-a-uuid", "payload": "nope"}
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            _ok("0"),
            {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "0", "MessageBody": json.dumps(broken)}]},
        )

        receipt = _publisher(client).publish([broken], validate=False)

        stub.assert_no_pending_responses()
    assert [(r.event_id, r.status) for r in receipt.results] == [("not-a-uuid", EventStatus.QUEUED)]


def test_progress_sees_every_event_exactly_once(client: Any) -> None:
    events = [*_events(12), {"bad": True}]
    seen: list[int] = []
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", _ok(*map(str, range(10))), {"QueueUrl": QUEUE_URL, "Entries": ANY})
        stub.add_response("send_message_batch", _ok("0", "1"), {"QueueUrl": QUEUE_URL, "Entries": ANY})

        _publisher(client).publish(events, on_progress=lambda results: seen.extend(r.index for r in results))

    assert sorted(seen) == list(range(13))


def test_failed_entries_hide_queue_internals_when_asked(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("send_message_batch", "AccessDenied", "arn:aws:iam::123:role/x is not allowed", 403)
        receipt = _publisher(client).publish(_events(1))

    hidden = receipt.to_dict(expose_failures=False)["results"][0]["error"]
    assert hidden == {"code": "queue_access_denied", "message": "the event could not be queued; send it again later"}


@pytest.mark.parametrize(
    ("url", "fifo"),
    [(FIFO_URL, True), (QUEUE_URL, False), ("http://127.0.0.1:5000/123456789012/q.fifo/", True)],
)
def test_fifo_queues_are_recognised_by_their_name(url: str, fifo: bool) -> None:
    assert is_fifo_queue(url) is fifo


def test_a_client_that_cannot_be_built_fails_the_events_as_misconfiguration(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: no region anywhere (a loopback queue URL names none), so the lazily created client cannot be built
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # botocore would ask the instance metadata service
    sender = BatchSender(
        "http://127.0.0.1:1/123456789012/events", retry=RetryPolicy(max_attempts=3), sleep=lambda _: None
    )

    receipt = EventPublisher(sender).publish(_events(1))

    error = receipt.results[0].error
    assert isinstance(error, ConfigurationError)
    assert error.message == NO_REGION_MESSAGE
