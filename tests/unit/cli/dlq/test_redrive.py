from __future__ import annotations

from dataclasses import dataclass, field

import boto3
import pytest
from botocore.stub import Stubber

from sluice_cli.dlq.queue import MoveTask, QueueInfo, SqsQueues
from sluice_cli.dlq.redrive import cancel_redrive, redrive_status, start_redrive
from sluice_cli.dlq.replay import NoTargetError
from tests.unit.cli.dlq.fakes import FakeFinder, queue_info

DLQ = queue_info("events-dlq")
SOURCE = queue_info("events")
OTHER = queue_info("other")
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events-dlq"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:events-dlq"


def _task(status: str, handle: str) -> MoveTask:
    return MoveTask(
        handle=handle,
        status=status,
        source_arn=DLQ.arn,
        destination_arn=None,
        rate=None,
        moved=3,
        to_move=10,
        failure_reason=None,
        started_at=None,
    )


@dataclass
class FakeTasks(FakeFinder):
    started: list[tuple[str, str | None, int | None]] = field(default_factory=list)
    tasks: list[MoveTask] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def start_move_task(self, *, source_arn: str, destination_arn: str | None, rate: int | None) -> str:
        self.started.append((source_arn, destination_arn, rate))
        return "task-1"

    def move_tasks(self, *, source_arn: str) -> list[MoveTask]:  # noqa: ARG002
        return self.tasks

    def cancel_move_task(self, handle: str) -> int:
        self.cancelled.append(handle)
        return 3


def _tasks(*sources: str) -> FakeTasks:
    known: dict[str, QueueInfo] = {info.name: info for info in (DLQ, SOURCE, OTHER)}
    return FakeTasks(known, sources=list(sources))


def test_redrive_goes_to_the_only_source_queue_named_explicitly() -> None:
    tasks = _tasks("events")

    started = start_redrive(tasks, DLQ, to=None, rate=25)

    assert started.handle == "task-1"
    assert started.destination == SOURCE
    assert tasks.started == [(DLQ.arn, SOURCE.arn, 25)]


def test_redrive_to_overrides_and_several_sources_leave_it_to_sqs() -> None:
    tasks = _tasks("events", "other")

    start_redrive(tasks, DLQ, to="other", rate=None)
    start_redrive(tasks, DLQ, to=None, rate=None)

    assert tasks.started == [(DLQ.arn, OTHER.arn, None), (DLQ.arn, None, None)]


def test_cancel_stops_the_running_task_only() -> None:
    tasks = _tasks()
    tasks.tasks = [_task("COMPLETED", "old"), _task("RUNNING", "now")]

    assert redrive_status(tasks, DLQ) == tasks.tasks
    assert cancel_redrive(tasks, DLQ) == (tasks.tasks[1], 3)
    assert tasks.cancelled == ["now"]


def test_cancel_without_a_running_task_is_nothing_to_do() -> None:
    tasks = _tasks()
    tasks.tasks = [_task("COMPLETED", "old")]

    assert cancel_redrive(tasks, DLQ) is None
    assert tasks.cancelled == []


@pytest.mark.parametrize("to", ["events-dlq", DLQ_URL])
def test_redrive_into_the_dlq_itself_is_refused_before_any_move_task(to: str) -> None:
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    dlq = QueueInfo(url=DLQ_URL, arn=DLQ_ARN, fifo=False)
    with Stubber(client) as stub:  # no StartMessageMoveTask response: calling it would fail the test
        if to == "events-dlq":
            stub.add_response("get_queue_url", {"QueueUrl": DLQ_URL}, {"QueueName": "events-dlq"})
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": DLQ_ARN}},
            {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn", "FifoQueue"]},
        )

        with pytest.raises(NoTargetError, match="refusing to redrive events-dlq into itself"):
            start_redrive(SqsQueues(client), dlq, to=to, rate=None)

        stub.assert_no_pending_responses()
