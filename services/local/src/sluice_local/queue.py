"""The SQS operations the local event source and pipeline need, over one queue (a thin boto3 adapter).

Errors are classified once, here, into Sluice's permanent/transient hierarchy. Batch operations are chunked
to SQS's 10 entries a request (DeleteMessageBatch, ChangeMessageVisibilityBatch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Final

from sluice_shared.aws import botocore_errors, classify_sqs_error, sqs_client
from sluice_shared.sqs import SQS_MAX_BATCH_ENTRIES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
    )

__all__ = ["SQS_MAX_RECEIVE_MESSAGES", "SQS_MAX_WAIT_SECONDS", "QueueDepth", "SqsQueue"]

SQS_MAX_RECEIVE_MESSAGES: Final = 10  # ReceiveMessage MaxNumberOfMessages: 1..10
SQS_MAX_WAIT_SECONDS: Final = 20  # ReceiveMessage WaitTimeSeconds: 0..20 (long polling)


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """SQS's approximate counts: visible, in flight (received, not deleted), and delayed messages."""

    visible: int
    in_flight: int
    delayed: int = 0

    @property
    def empty(self) -> bool:
        """True when nothing is waiting, in flight or delayed."""
        return self.visible == 0 and self.in_flight == 0 and self.delayed == 0


class SqsQueue:
    """Receive, delete, release and count the messages of one queue."""

    def __init__(self, queue_url: str, *, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        """The SQS client for this queue (see :func:`sluice_shared.aws.sqs_client`), created on first use."""
        if self._client is None:
            self._client = sqs_client(queue=self.queue_url)
        return self._client

    @cached_property
    def arn(self) -> str:
        """The queue's ARN (``eventSourceARN`` in Lambda records)."""
        try:
            response = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except botocore_errors() as exc:  # classified right here into permanent/transient
            raise classify_sqs_error(exc) from exc
        return response["Attributes"]["QueueArn"]

    @property
    def region(self) -> str:
        """The region the client talks to (``awsRegion`` in Lambda records)."""
        return self.client.meta.region_name

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[MessageTypeDef]:
        """Receive up to ``max_messages`` (1..10), long polling up to ``wait_seconds`` (0..20).

        Asks for every system attribute and message attribute, as Lambda's poller does.
        """
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(max_messages, SQS_MAX_RECEIVE_MESSAGES)),
                WaitTimeSeconds=max(0, min(wait_seconds, SQS_MAX_WAIT_SECONDS)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except botocore_errors() as exc:  # classified right here into permanent/transient
            raise classify_sqs_error(exc) from exc
        return list(response.get("Messages", []))

    def delete(self, messages: Sequence[MessageTypeDef]) -> list[str]:
        """Delete ``messages``; return the ids of those SQS did not delete (for example a stale receipt handle)."""
        not_deleted: list[str] = []
        for chunk in _chunks(messages):
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(chunk)
            ]
            try:
                response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except botocore_errors() as exc:  # classified right here into permanent/transient
                raise classify_sqs_error(exc) from exc
            not_deleted.extend(chunk[int(failure["Id"])]["MessageId"] for failure in response.get("Failed", []))
        return not_deleted

    def release(self, messages: Sequence[MessageTypeDef]) -> None:
        """Make ``messages`` visible again at once (visibility timeout 0), for messages never handed over."""
        for chunk in _chunks(messages):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for index, m in enumerate(chunk)
            ]
            try:
                self.client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except botocore_errors() as exc:  # classified right here into permanent/transient
                raise classify_sqs_error(exc) from exc

    def depth(self) -> QueueDepth:
        """The queue's approximate message counts."""
        try:
            response = self.client.get_queue_attributes(
                QueueUrl=self.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )
        except botocore_errors() as exc:  # classified right here into permanent/transient
            raise classify_sqs_error(exc) from exc
        attributes = response.get("Attributes", {})
        return QueueDepth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )


def _chunks(messages: Sequence[MessageTypeDef]) -> list[Sequence[MessageTypeDef]]:
    return [messages[start : start + SQS_MAX_BATCH_ENTRIES] for start in range(0, len(messages), SQS_MAX_BATCH_ENTRIES)]
