"""Receiving side of one SQS queue: receive, hide or release, delete, purge and count its messages.

A thin boto3 adapter shared by the local event source (``sluice local``) and ``sluice dlq``. Every boto3
error is classified here, once, into Sluice's permanent/transient hierarchy. Batch calls are chunked to
SQS's 10 entries a request (``DeleteMessageBatch``, ``ChangeMessageVisibilityBatch``); what SQS refuses is
reported back by position in the caller's sequence, so callers map it onto their own objects.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sluice_shared.aws import botocore_errors, classify_sqs_error, sqs_client
from sluice_shared.limits import SQS_MAX_BATCH_ENTRIES, SQS_MAX_RECEIVE_MESSAGES, SQS_MAX_WAIT_SECONDS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import BatchResultErrorEntryTypeDef, MessageTypeDef

__all__ = ["QueueDepth", "SqsQueue"]

_DEPTH_ATTRIBUTES: list[QueueAttributeNameType] = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueDepth:
    """SQS's approximate counts: visible, received but not deleted (in flight), and delayed messages."""

    visible: int
    in_flight: int
    delayed: int = 0

    @property
    def total(self) -> int:
        """Every message the queue holds."""
        return self.visible + self.in_flight + self.delayed

    @property
    def empty(self) -> bool:
        """True when nothing is waiting, in flight or delayed."""
        return self.total == 0


class SqsQueue:
    """The messages of one queue: receive, change visibility, delete, purge, count.

    ``what`` names the queue in error messages (``queue``, ``dead-letter queue``).
    """

    def __init__(self, queue_url: str, *, client: SQSClient | None = None, what: str = "queue") -> None:
        self.queue_url = queue_url
        self._client = client
        self._what = what

    @property
    def client(self) -> SQSClient:
        """The SQS client for this queue (see :func:`sluice_shared.aws.sqs_client`), created on first use."""
        if self._client is None:
            self._client = sqs_client(queue=self.queue_url)
        return self._client

    @cached_property
    def arn(self) -> str:
        """The queue's ARN (``eventSourceARN`` in Lambda records)."""
        with self._classified():
            response = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        return response["Attributes"]["QueueArn"]

    @property
    def region(self) -> str:
        """The region the client talks to (``awsRegion`` in Lambda records)."""
        return str(self.client.meta.region_name)

    def depth(self) -> QueueDepth:
        """The queue's approximate message counts (``GetQueueAttributes``)."""
        with self._classified():
            response = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=_DEPTH_ATTRIBUTES)
        attributes = response.get("Attributes", {})
        return QueueDepth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    def receive(
        self, *, max_messages: int, wait_seconds: int, visibility_timeout: int | None = None
    ) -> list[MessageTypeDef]:
        """Receive up to ``max_messages`` (1..10), long polling up to ``wait_seconds`` (0..20).

        Asks for every system attribute and message attribute, as Lambda's poller does. ``visibility_timeout``
        hides the messages for that many seconds instead of the queue's default. Receiving increments each
        message's ``ApproximateReceiveCount``; a long poll queries every SQS server, so an empty answer means
        no message is visible.
        """
        request: dict[str, Any] = {}
        if visibility_timeout is not None:
            request["VisibilityTimeout"] = visibility_timeout
        with self._classified():
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(max_messages, SQS_MAX_RECEIVE_MESSAGES)),
                WaitTimeSeconds=max(0, min(wait_seconds, SQS_MAX_WAIT_SECONDS)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                **request,
            )
        return list(response.get("Messages", []))

    def delete_receipts(self, receipt_handles: Sequence[str]) -> list[int]:
        """Delete the messages received with ``receipt_handles``; return the positions SQS did not delete."""
        return self._batched(
            receipt_handles,
            lambda entries: self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": entry_id, "ReceiptHandle": handle} for entry_id, handle in entries],
            ).get("Failed", []),
        )

    def change_visibility(self, receipt_handles: Sequence[str], seconds: int) -> list[int]:
        """Hide those messages for ``seconds`` from now (0: visible again at once); return the positions refused."""
        return self._batched(
            receipt_handles,
            lambda entries: self.client.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": entry_id, "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                    for entry_id, handle in entries
                ],
            ).get("Failed", []),
        )

    def delete(self, messages: Sequence[MessageTypeDef]) -> list[str]:
        """Delete received ``messages``; return the ids of those SQS did not delete (for example a stale handle)."""
        refused = self.delete_receipts([message["ReceiptHandle"] for message in messages])
        return [messages[position]["MessageId"] for position in refused]

    def release(self, messages: Sequence[MessageTypeDef]) -> None:
        """Make received ``messages`` visible again at once (visibility timeout 0), for messages never handed over.

        A refused release needs no handling: the message becomes visible when its visibility timeout ends.
        """
        self.change_visibility([message["ReceiptHandle"] for message in messages], 0)

    def purge(self) -> None:
        """Delete every message (``PurgeQueue``; SQS allows one purge per queue every 60 seconds)."""
        with self._classified():
            self.client.purge_queue(QueueUrl=self.queue_url)

    def _batched(
        self,
        receipt_handles: Sequence[str],
        send: Callable[[list[tuple[str, str]]], Sequence[BatchResultErrorEntryTypeDef]],
    ) -> list[int]:
        # Entry ids are positions in the chunk: a failure's id plus the chunk's start is its position.
        refused: list[int] = []
        for start in range(0, len(receipt_handles), SQS_MAX_BATCH_ENTRIES):
            chunk = receipt_handles[start : start + SQS_MAX_BATCH_ENTRIES]
            with self._classified():
                failed = send([(str(offset), handle) for offset, handle in enumerate(chunk)])
            refused.extend(start + int(failure["Id"]) for failure in failed)
        return refused

    @contextmanager
    def _classified(self) -> Iterator[None]:
        """Translate botocore's errors raised inside into Sluice errors (``from`` the original); others propagate."""
        try:
            yield
        except botocore_errors() as exc:  # classified right here into permanent/transient; a bug stays a bug
            raise classify_sqs_error(exc, what=self._what) from exc
