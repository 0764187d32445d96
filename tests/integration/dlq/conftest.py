"""DLQ integration fixtures: a source queue and its DLQ on the moto server, filled the two ways it happens.

The consumer dead-letters a message by sending its body and attributes with a ``DeadLetterReason``
attached; SQS's redrive policy moves a message after ``maxReceiveCount`` receives and attaches nothing.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from sluice_cli.app import main
from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.errors import InvalidMessageError, SluiceError
from sluice_shared.limits import SQS_FIFO_SUFFIX
from sluice_shared.sqs import BatchSender, OutgoingMessage, is_fifo_queue

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True)
class Queues:
    """A source queue whose redrive policy targets the DLQ."""

    client: SQSClient
    source_url: str
    source_arn: str
    dlq_url: str
    dlq_arn: str

    def dead_letter(
        self,
        bodies: list[str],
        *,
        error: SluiceError | None = None,
        attributes: dict[str, Any] | None = None,
        group_ids: list[str] | None = None,
    ) -> None:
        """Put ``bodies`` in the DLQ the way the consumer does: original attributes plus the reason."""
        reason = DeadLetterReason.from_error(
            error or InvalidMessageError.single("payload.sku", "bad sku"), source_queue=self.source_arn
        )
        attached = reason.attach(attributes or {"trace": {"DataType": "String", "StringValue": "t-1"}})
        assert attached is not None
        fifo = is_fifo_queue(self.dlq_url)
        messages = [
            OutgoingMessage(
                key=str(index),
                body=body,
                attributes=attached,
                group_id=group_ids[index] if group_ids else None,
                deduplication_id=f"dl-{index}-{hash(body)}" if fifo else None,
            )
            for index, body in enumerate(bodies)
        ]
        outcomes = BatchSender(self.dlq_url, client=self.client).send(messages)
        assert all(outcome.ok for outcome in outcomes)

    def redrive_by_sqs(self, bodies: list[str]) -> None:
        """Send ``bodies`` to the source queue and receive them until SQS moves them to the DLQ."""
        outcomes = BatchSender(self.source_url, client=self.client).send(
            [OutgoingMessage(key=str(index), body=body) for index, body in enumerate(bodies)]
        )
        assert all(outcome.ok for outcome in outcomes)
        for _ in range((MAX_RECEIVE_COUNT + 1) * (len(bodies) // 10 + 2)):
            received = self.client.receive_message(
                QueueUrl=self.source_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            if not received and not self.depth(self.source_url):
                return
        raise AssertionError("SQS did not move every message to the DLQ")

    def depth(self, url: str) -> int:
        """Visible plus in-flight messages."""
        values = self.client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(values["ApproximateNumberOfMessages"]) + int(values["ApproximateNumberOfMessagesNotVisible"])

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Receive and delete every message of ``url``, in receive order (FIFO: group order)."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)  # type: ignore[arg-type]
            self.client.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )


def make_queues(client: SQSClient, name: str, *, fifo: bool = False) -> Queues:
    """Create ``name`` and ``name-dlq`` (FIFO when asked) with a real redrive policy."""
    suffix = SQS_FIFO_SUFFIX if fifo else ""
    extra: dict[QueueAttributeNameType, str] = {"FifoQueue": "true"} if fifo else {}
    dlq_url = client.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=extra)["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
    source_url = client.create_queue(QueueName=f"{name}{suffix}", Attributes={"RedrivePolicy": policy, **extra})[
        "QueueUrl"
    ]
    source_arn = client.get_queue_attributes(QueueUrl=source_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Queues(client, source_url, source_arn, dlq_url, dlq_arn)


@pytest.fixture
def queue_factory(sqs_client: SQSClient) -> Iterator[Callable[..., Queues]]:
    """Makes source queue + DLQ pairs; deletes them at the end, so no backlog slows the shared moto server."""
    made: list[Queues] = []

    def make(name: str, *, fifo: bool = False) -> Queues:
        made.append(make_queues(sqs_client, name, fifo=fifo))
        return made[-1]

    yield make
    for pair in made:
        for url in (pair.source_url, pair.dlq_url):
            with contextlib.suppress(sqs_client.exceptions.QueueDoesNotExist):
                sqs_client.delete_queue(QueueUrl=url)


@pytest.fixture
def queues(queue_factory: Callable[..., Queues], unique_name: str) -> Queues:
    """A fresh standard source queue and DLQ."""
    return queue_factory(unique_name)


@dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str


@pytest.fixture
def sluice(
    sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run ``sluice`` in-process against the moto server; returns exit status, stdout and stderr."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)

    def run(*argv: str) -> Result:
        capsys.readouterr()
        status = main(list(argv))
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return run
