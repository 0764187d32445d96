from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber

from sluice_shared.errors import ConfigurationError, QueueNotFoundError, QueueUnavailableError
from sluice_shared.sqs import QueueDepth, SqsQueue

if TYPE_CHECKING:
    from collections.abc import Iterator

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events"
DEPTH_REQUEST = {
    "QueueUrl": URL,
    "AttributeNames": [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ],
}


@pytest.fixture
def client() -> Any:
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


@contextmanager
def stubbed(client: Any) -> Iterator[Stubber]:
    """botocore's Stubber, which also fails when a queued response was never asked for (a call not made)."""
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def _message(n: int) -> Any:
    return {"MessageId": f"m{n}", "ReceiptHandle": f"h{n}", "Body": "{}"}


def test_receive_clamps_to_sqs_limits_and_asks_for_every_attribute(client: Any) -> None:
    with stubbed(client) as stub:
        stub.add_response(
            "receive_message",
            {"Messages": [_message(0)]},
            {
                "QueueUrl": URL,
                "MaxNumberOfMessages": 10,
                "WaitTimeSeconds": 20,
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
            },
        )
        stub.add_response(
            "receive_message",
            {},
            {
                "QueueUrl": URL,
                "MaxNumberOfMessages": 1,
                "WaitTimeSeconds": 0,
                "VisibilityTimeout": 45,
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
            },
        )
        queue = SqsQueue(URL, client=client)

        assert queue.receive(max_messages=25, wait_seconds=60) == [_message(0)]
        assert queue.receive(max_messages=0, wait_seconds=-1, visibility_timeout=45) == []


def test_delete_goes_in_batches_of_ten_and_reports_what_sqs_refused_by_message_id(client: Any) -> None:
    messages = [_message(n) for n in range(12)]
    with stubbed(client) as stub:
        stub.add_response(
            "delete_message_batch",
            {"Successful": [{"Id": str(i)} for i in range(10)], "Failed": []},
            {"QueueUrl": URL, "Entries": [{"Id": str(i), "ReceiptHandle": f"h{i}"} for i in range(10)]},
        )
        stub.add_response(
            "delete_message_batch",
            {
                "Successful": [{"Id": "0"}],
                "Failed": [{"Id": "1", "SenderFault": True, "Code": "ReceiptHandleIsInvalid"}],
            },
            {"QueueUrl": URL, "Entries": [{"Id": str(i), "ReceiptHandle": f"h{i + 10}"} for i in range(2)]},
        )

        assert SqsQueue(URL, client=client).delete(messages) == ["m11"]


def test_change_visibility_reports_refused_positions_across_chunks(client: Any) -> None:
    handles = [f"h{n}" for n in range(11)]
    with stubbed(client) as stub:
        stub.add_response(
            "change_message_visibility_batch",
            {
                "Successful": [{"Id": str(i)} for i in range(1, 10)],
                "Failed": [{"Id": "0", "SenderFault": True, "Code": "MessageNotInflight"}],
            },
            {
                "QueueUrl": URL,
                "Entries": [{"Id": str(i), "ReceiptHandle": f"h{i}", "VisibilityTimeout": 30} for i in range(10)],
            },
        )
        stub.add_response(
            "change_message_visibility_batch",
            {"Successful": [], "Failed": [{"Id": "0", "SenderFault": True, "Code": "MessageNotInflight"}]},
            {"QueueUrl": URL, "Entries": [{"Id": "0", "ReceiptHandle": "h10", "VisibilityTimeout": 30}]},
        )

        assert SqsQueue(URL, client=client).change_visibility(handles, 30) == [0, 10]


def test_release_makes_messages_visible_at_once(client: Any) -> None:
    with stubbed(client) as stub:
        stub.add_response(
            "change_message_visibility_batch",
            {"Successful": [{"Id": "0"}], "Failed": []},
            {"QueueUrl": URL, "Entries": [{"Id": "0", "ReceiptHandle": "h0", "VisibilityTimeout": 0}]},
        )

        SqsQueue(URL, client=client).release([_message(0)])


def test_depth_reads_the_three_counters_and_an_empty_queue_is_empty(client: Any) -> None:
    with stubbed(client) as stub:
        stub.add_response(
            "get_queue_attributes",
            {
                "Attributes": {
                    "ApproximateNumberOfMessages": "7",
                    "ApproximateNumberOfMessagesNotVisible": "2",
                    "ApproximateNumberOfMessagesDelayed": "1",
                }
            },
            DEPTH_REQUEST,
        )
        stub.add_response("get_queue_attributes", {"Attributes": {}}, DEPTH_REQUEST)
        queue = SqsQueue(URL, client=client)

        assert queue.depth() == QueueDepth(visible=7, in_flight=2, delayed=1)
        assert queue.depth().empty

    assert QueueDepth(visible=7, in_flight=2, delayed=1).total == 10


def test_errors_are_classified_once_naming_the_queue(client: Any) -> None:
    with stubbed(client) as stub:
        stub.add_client_error("purge_queue", service_error_code="RequestThrottled", http_status_code=400)
        stub.add_client_error(
            "get_queue_attributes", service_error_code="AWS.SimpleQueueService.NonExistentQueue", http_status_code=400
        )
        queue = SqsQueue(URL, client=client, what="dead-letter queue")

        with pytest.raises(QueueUnavailableError) as throttled:
            queue.purge()
        with pytest.raises(QueueNotFoundError):
            _ = queue.arn

    assert "dead-letter queue" in str(throttled.value)


def test_an_error_already_classified_passes_through_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_region(**_: Any) -> Any:
        raise ConfigurationError("no region")

    monkeypatch.setattr("sluice_shared.sqs.queue.sqs_client", no_region)

    with pytest.raises(ConfigurationError, match="no region") as raised:
        SqsQueue(URL).depth()

    assert raised.value.__cause__ is None
