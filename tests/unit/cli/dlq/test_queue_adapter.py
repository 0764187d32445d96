from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sluice_cli.dlq.queue import MoveTask, QueueInfo, RedriveUnsupportedError, SqsDeadLetterQueue, SqsQueues
from sluice_shared.errors import QueueAccessDeniedError, QueueNotFoundError, QueueUnavailableError
from tests.unit.cli.dlq.fakes import dead_letter

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events-dlq"
ARN = "arn:aws:sqs:us-east-1:123456789012:events-dlq"
INFO = QueueInfo(url=URL, arn=ARN, fifo=False)


@pytest.fixture
def client() -> Any:
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_queue_is_found_by_name_with_its_arn_and_type(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("get_queue_url", {"QueueUrl": URL}, {"QueueName": "events-dlq"})
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": ARN}},
            {"QueueUrl": URL, "AttributeNames": ["QueueArn", "FifoQueue"]},
        )

        info = SqsQueues(client).find("events-dlq")

    assert info == INFO
    assert info.name == "events-dlq"


def test_queue_arn_is_resolved_by_name_and_owner_account(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "get_queue_url",
            {"QueueUrl": URL + ".fifo"},
            {"QueueName": "events-dlq.fifo", "QueueOwnerAWSAccountId": "123456789012"},
        )

        assert SqsQueues(client).url_for(ARN + ".fifo") == URL + ".fifo"


def test_unknown_queue_is_one_line_naming_queue_and_region(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_queue_url", service_error_code="AWS.SimpleQueueService.NonExistentQueue", http_status_code=400
        )

        with pytest.raises(QueueNotFoundError) as caught:
            SqsQueues(client).find("nope")

    assert str(caught.value) == "queue 'nope' does not exist at this endpoint in region us-east-1"


def test_access_denied_is_classified_once(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("get_queue_attributes", service_error_code="AccessDenied", http_status_code=403)

        with pytest.raises(QueueAccessDeniedError):
            SqsQueues(client).find(URL)


def test_receive_asks_for_every_attribute_and_reads_the_messages(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "receive_message",
            {
                "Messages": [
                    {
                        "MessageId": "m-1",
                        "ReceiptHandle": "h-1",
                        "Body": '{"event_id": "e-1"}',
                        "Attributes": {"SentTimestamp": "1795694400000", "ApproximateReceiveCount": "6"},
                    }
                ]
            },
            {
                "QueueUrl": URL,
                "MaxNumberOfMessages": 10,
                "VisibilityTimeout": 30,
                "WaitTimeSeconds": 1,
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
            },
        )

        (message,) = SqsDeadLetterQueue(client, INFO).receive(max_messages=25, visibility_timeout=30, wait_seconds=1)

    assert (message.message_id, message.receipt_handle, message.event_id, message.receive_count) == (
        "m-1",
        "h-1",
        "e-1",
        6,
    )
    assert message.sent_at == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_visibility_and_delete_go_in_batches_of_ten_and_report_refusals(client: Any) -> None:
    messages = [replace(dead_letter(), receipt_handle=f"h{i}") for i in range(12)]
    queue = SqsDeadLetterQueue(client, INFO)
    with Stubber(client) as stub:
        stub.add_response(
            "change_message_visibility_batch",
            {
                "Successful": [{"Id": str(i)} for i in range(1, 10)],
                "Failed": [{"Id": "0", "SenderFault": True, "Code": "MessageNotInflight"}],
            },
            {
                "QueueUrl": URL,
                "Entries": [{"Id": str(i), "ReceiptHandle": f"h{i}", "VisibilityTimeout": 0} for i in range(10)],
            },
        )
        stub.add_response(
            "change_message_visibility_batch",
            {"Successful": [{"Id": "0"}, {"Id": "1"}], "Failed": []},
            {
                "QueueUrl": URL,
                "Entries": [{"Id": str(i), "ReceiptHandle": f"h{i + 10}", "VisibilityTimeout": 0} for i in range(2)],
            },
        )
        stub.add_response(
            "delete_message_batch",
            {
                "Successful": [{"Id": "0"}],
                "Failed": [{"Id": "1", "SenderFault": True, "Code": "ReceiptHandleIsInvalid"}],
            },
            {"QueueUrl": URL, "Entries": [{"Id": "0", "ReceiptHandle": "h0"}, {"Id": "1", "ReceiptHandle": "h1"}]},
        )

        assert queue.change_visibility(messages, 0) == [messages[0]]
        assert queue.delete(messages[:2]) == [messages[1]]


def test_depth_reads_the_three_counters(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "get_queue_attributes",
            {
                "Attributes": {
                    "ApproximateNumberOfMessages": "7",
                    "ApproximateNumberOfMessagesNotVisible": "2",
                    "ApproximateNumberOfMessagesDelayed": "1",
                }
            },
        )

        depth = SqsDeadLetterQueue(client, INFO).depth()

    assert (depth.visible, depth.in_flight, depth.delayed, depth.total) == (7, 2, 1, 10)


def test_throttling_while_receiving_is_transient(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("receive_message", service_error_code="RequestThrottled", http_status_code=400)

        with pytest.raises(QueueUnavailableError):
            SqsDeadLetterQueue(client, INFO).receive(max_messages=1, visibility_timeout=1, wait_seconds=0)


class TestMoveTasks:
    def test_start_passes_source_destination_and_rate(self, client: Any) -> None:
        with Stubber(client) as stub:
            stub.add_response(
                "start_message_move_task",
                {"TaskHandle": "task-1"},
                {
                    "SourceArn": ARN,
                    "DestinationArn": "arn:aws:sqs:us-east-1:123456789012:events",
                    "MaxNumberOfMessagesPerSecond": 50,
                },
            )

            handle = SqsQueues(client).start_move_task(
                source_arn=ARN, destination_arn="arn:aws:sqs:us-east-1:123456789012:events", rate=50
            )

        assert handle == "task-1"

    def test_list_reads_every_field(self, client: Any) -> None:
        with Stubber(client) as stub:
            stub.add_response(
                "list_message_move_tasks",
                {
                    "Results": [
                        {
                            "TaskHandle": "task-1",
                            "Status": "RUNNING",
                            "SourceArn": ARN,
                            "MaxNumberOfMessagesPerSecond": 10,
                            "ApproximateNumberOfMessagesMoved": 40,
                            "ApproximateNumberOfMessagesToMove": 100,
                            "StartedTimestamp": 1795694400000,
                        }
                    ]
                },
                {"SourceArn": ARN, "MaxResults": 10},
            )

            tasks = SqsQueues(client).move_tasks(source_arn=ARN)

        assert tasks == [
            MoveTask(
                handle="task-1",
                status="RUNNING",
                source_arn=ARN,
                destination_arn=None,
                rate=10,
                moved=40,
                to_move=100,
                failure_reason=None,
                started_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
            )
        ]

    def test_cancel_returns_how_many_were_moved(self, client: Any) -> None:
        with Stubber(client) as stub:
            stub.add_response(
                "cancel_message_move_task", {"ApproximateNumberOfMessagesMoved": 40}, {"TaskHandle": "task-1"}
            )

            assert SqsQueues(client).cancel_move_task("task-1") == 40

    @pytest.mark.parametrize(("code", "status"), [("500", 500), ("UnsupportedOperation", 400), ("InvalidAction", 400)])
    def test_endpoint_without_the_api_points_to_replay(self, client: Any, code: str, status: int) -> None:
        with Stubber(client) as stub:
            stub.add_client_error("start_message_move_task", service_error_code=code, http_status_code=status)

            with pytest.raises(RedriveUnsupportedError, match="use 'sluice dlq replay' instead"):
                SqsQueues(client).start_move_task(source_arn=ARN, destination_arn=None, rate=None)

    def test_a_real_internal_error_stays_transient(self, client: Any) -> None:
        with Stubber(client) as stub:
            stub.add_client_error("list_message_move_tasks", service_error_code="InternalError", http_status_code=500)

            with pytest.raises(QueueUnavailableError):
                SqsQueues(client).move_tasks(source_arn=ARN)
