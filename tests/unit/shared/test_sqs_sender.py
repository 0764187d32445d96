from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from sluice_shared.errors import (
    MessageRejectedError,
    MessageTooLargeError,
    QueueNotFoundError,
    QueueUnavailableError,
)
from sluice_shared.limits import SQS_MAX_BATCH_BYTES
from sluice_shared.sqs import (
    BatchSender,
    OutgoingMessage,
    RetryPolicy,
    attributes_from_lambda,
    attributes_to_lambda,
    message_size,
)

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events"


@pytest.fixture
def client() -> Any:
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _messages(count: int, body: str = "{}") -> list[OutgoingMessage]:
    return [OutgoingMessage(key=f"k{i}", body=body) for i in range(count)]


def _ok(*ids: str) -> dict[str, Any]:
    return {"Successful": [{"Id": i, "MessageId": f"m-{i}", "MD5OfMessageBody": "x"} for i in ids], "Failed": []}


def _sender(client: Any, sleeps: list[float] | None = None) -> BatchSender:
    record = sleeps if sleeps is not None else []
    return BatchSender(
        QUEUE_URL, client=client, retry=RetryPolicy(max_attempts=3), sleep=record.append, rng=lambda: 1.0
    )


def test_messages_are_sent_in_chunks_of_ten(client: Any) -> None:
    with Stubber(client) as stub:
        for size in (10, 10, 5):
            stub.add_response(
                "send_message_batch", _ok(*map(str, range(size))), {"QueueUrl": QUEUE_URL, "Entries": ANY}
            )

        outcomes = _sender(client).send(_messages(25))

        stub.assert_no_pending_responses()
    assert [o.key for o in outcomes] == [f"k{i}" for i in range(25)]
    assert all(o.ok for o in outcomes)


def test_chunks_also_respect_the_total_request_size(client: Any) -> None:
    # Three ~400 KiB messages: two fit in one 1 MiB request, the third needs another.
    body = "x" * (400 * 1024)
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", _ok("0", "1"), {"QueueUrl": QUEUE_URL, "Entries": ANY})
        stub.add_response("send_message_batch", _ok("0"), {"QueueUrl": QUEUE_URL, "Entries": ANY})

        outcomes = _sender(client).send(_messages(3, body))

        stub.assert_no_pending_responses()
    assert all(o.ok for o in outcomes)
    assert 2 * len(body) < SQS_MAX_BATCH_BYTES < 3 * len(body)


def test_single_message_over_the_size_limit_is_rejected_without_a_call(client: Any) -> None:
    with Stubber(client) as stub:
        outcomes = _sender(client).send([OutgoingMessage(key="big", body="x" * (1024 * 1024 + 1))])
        stub.assert_no_pending_responses()

    assert isinstance(outcomes[0].error, MessageTooLargeError)


def test_only_entries_failed_on_the_sqs_side_are_retried(client: Any) -> None:
    first = {
        "Successful": [{"Id": "0", "MessageId": "m-0", "MD5OfMessageBody": "x"}],
        "Failed": [
            {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"},
            {"Id": "2", "SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad chars"},
        ],
    }
    retry_entries = [{"Id": "1", "MessageBody": "{}"}]
    sleeps: list[float] = []
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", first, {"QueueUrl": QUEUE_URL, "Entries": ANY})
        stub.add_response("send_message_batch", _ok("1"), {"QueueUrl": QUEUE_URL, "Entries": retry_entries})

        outcomes = _sender(client, sleeps).send(_messages(3))

        stub.assert_no_pending_responses()
    assert [(o.key, o.ok, o.attempts) for o in outcomes] == [("k0", True, 1), ("k1", True, 2), ("k2", False, 1)]
    assert isinstance(outcomes[2].error, MessageRejectedError)
    assert sleeps == [0.05]


def test_throttling_is_retried_with_growing_backoff_then_reported(client: Any) -> None:
    sleeps: list[float] = []
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("send_message_batch", "ThrottlingException", "slow down", 400)

        outcomes = _sender(client, sleeps).send(_messages(2))

        stub.assert_no_pending_responses()
    assert all(isinstance(o.error, QueueUnavailableError) for o in outcomes)
    assert [o.attempts for o in outcomes] == [3, 3]
    assert sleeps == [0.05, 0.1]


def test_missing_queue_is_reported_at_once_without_retrying(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error(
            "send_message_batch",
            "QueueDoesNotExist",
            "The specified queue does not exist.",
            400,
            response_meta={},
        )
        outcomes = _sender(client).send(_messages(2))
        stub.assert_no_pending_responses()

    assert all(isinstance(o.error, QueueNotFoundError) for o in outcomes)


def test_fifo_fields_and_attributes_are_passed_through(client: Any) -> None:
    message = OutgoingMessage(
        key="a",
        body="{}",
        attributes={"trace": {"DataType": "String", "StringValue": "t-1"}},
        group_id="customer-7",
        deduplication_id="e-1",
    )
    expected = {
        "QueueUrl": QUEUE_URL,
        "Entries": [
            {
                "Id": "0",
                "MessageBody": "{}",
                "MessageAttributes": {"trace": {"DataType": "String", "StringValue": "t-1"}},
                "MessageGroupId": "customer-7",
                "MessageDeduplicationId": "e-1",
            }
        ],
    }
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", _ok("0"), expected)
        assert _sender(client).send([message])[0].message_id == "m-0"


def test_message_size_counts_body_and_attribute_names_types_and_values() -> None:
    size = message_size("\u20ac", {"ab": {"DataType": "String", "StringValue": "xyz"}})

    assert size == 3 + 2 + 6 + 3


def test_lambda_attributes_round_trip_to_the_sqs_api_shape() -> None:
    lambda_shape = {
        "text": {"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }

    api_shape = attributes_from_lambda(lambda_shape)

    assert api_shape == {
        "text": {"DataType": "String", "StringValue": "v"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    assert attributes_to_lambda(api_shape) == lambda_shape
