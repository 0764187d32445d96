"""The SQS adapter behind ``sluice dlq``: find queues, move tasks, and one DLQ's messages.

Queue look-ups and move tasks are made here and botocore's errors translated here, once, into Sluice's
hierarchy (:func:`sluice_shared.aws.classify_sqs_error`); any other exception is a bug and propagates.
Receiving, hiding, deleting, purging and counting go through the shared :class:`sluice_shared.sqs.SqsQueue`,
which chunks and classifies the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from sluice_cli.dlq.messages import DeadLetter
from sluice_shared.aws import botocore_errors, classify_sqs_error, error_code
from sluice_shared.errors import PermanentError, QueueNotFoundError
from sluice_shared.sqs import SqsQueue, is_fifo_queue

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from sluice_shared.sqs import QueueDepth

__all__ = [
    "MoveTask",
    "QueueInfo",
    "RedriveUnsupportedError",
    "SqsDeadLetterQueue",
    "SqsQueues",
]

# A 5xx whose error code is the bare status means the endpoint answered with no AWS error at all: the
# action is not implemented there (the moto server answers StartMessageMoveTask with an HTML 500 page).
_NOT_IMPLEMENTED_CODES: Final = frozenset(
    {"InvalidAction", "NotImplemented", "UnknownOperationException", "UnsupportedOperation", "501"}
)
_SERVER_ERROR_STATUS: Final = 500


class RedriveUnsupportedError(PermanentError):
    """The endpoint (or this queue type) does not support SQS's native message move tasks."""

    code = "redrive_unsupported"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueInfo:
    """A queue found at the endpoint: its URL, ARN and type."""

    url: str
    arn: str
    fifo: bool

    @property
    def name(self) -> str:
        """The queue name (last part of the ARN)."""
        return self.arn.rsplit(":", 1)[-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveTask:
    """One SQS message move task (``ListMessageMoveTasks`` result)."""

    handle: str | None
    status: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    moved: int
    to_move: int | None
    failure_reason: str | None
    started_at: datetime | None


@contextmanager
def _translated(what: str, *, not_found: str | None = None) -> Iterator[None]:
    """Translate a botocore error raised inside into a Sluice error (``from`` the original); others propagate."""
    try:
        yield
    except botocore_errors() as exc:  # classified right here from its type and AWS error code
        error = classify_sqs_error(exc, what=what)
        if not_found is not None and isinstance(error, QueueNotFoundError):
            raise QueueNotFoundError(not_found) from exc
        raise error from exc


class SqsQueues:
    """Queue look-ups and move tasks over one SQS client."""

    def __init__(self, client: SQSClient) -> None:
        self.client = client

    @property
    def region(self) -> str:
        """The client's region, for error messages."""
        return str(self.client.meta.region_name)

    def find(self, queue: str) -> QueueInfo:
        """Find a queue by URL, ARN or name.

        Raises:
            QueueNotFoundError: no such queue at this endpoint and region.
            CredentialsError, QueueAccessDeniedError, QueueUnavailableError: as classified.
        """
        missing = f"queue {queue!r} does not exist at this endpoint in region {self.region}"
        with _translated("queue", not_found=missing):
            url = self.url_for(queue)
            attributes = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "FifoQueue"])
        values = attributes.get("Attributes", {})
        arn = values.get("QueueArn", "")
        return QueueInfo(url=url, arn=arn, fifo=values.get("FifoQueue") == "true" or is_fifo_queue(arn))

    def url_for(self, queue: str) -> str:
        """The URL of a queue given by URL (returned as is), ARN or name (``GetQueueUrl``)."""
        if queue.startswith(("https://", "http://")):
            return queue
        missing = f"queue {queue!r} does not exist at this endpoint in region {self.region}"
        with _translated("queue", not_found=missing):
            if queue.startswith("arn:"):
                # arn:<partition>:sqs:<region>:<account>:<name>
                parts = queue.split(":")
                if len(parts) != 6 or parts[2] != "sqs":  # noqa: PLR2004 - the six ARN fields
                    raise QueueNotFoundError(f"{queue!r} is not an SQS queue ARN")
                return self.client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            return self.client.get_queue_url(QueueName=queue)["QueueUrl"]

    def dead_letter_sources(self, dlq: QueueInfo) -> list[str]:
        """URLs of the queues whose redrive policy targets ``dlq`` (``ListDeadLetterSourceQueues``)."""
        urls: list[str] = []
        with _translated("dead-letter queue"):
            for page in self.client.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=dlq.url):
                urls.extend(page.get("queueUrls", []))
        return urls

    def start_move_task(self, *, source_arn: str, destination_arn: str | None, rate: int | None) -> str:
        """Start a native redrive (``StartMessageMoveTask``); return its task handle.

        Raises:
            RedriveUnsupportedError: the endpoint does not implement it, or refuses it for this queue type.
        """
        request: dict[str, Any] = {"SourceArn": source_arn}
        if destination_arn is not None:
            request["DestinationArn"] = destination_arn
        if rate is not None:
            request["MaxNumberOfMessagesPerSecond"] = rate
        with _unsupported_translated():
            return self.client.start_message_move_task(**request)["TaskHandle"]

    def move_tasks(self, *, source_arn: str) -> list[MoveTask]:
        """The most recent move tasks of a DLQ, newest first (``ListMessageMoveTasks``, at most 10)."""
        with _unsupported_translated():
            results = self.client.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]
        return [
            MoveTask(
                handle=item.get("TaskHandle"),
                status=item.get("Status", "UNKNOWN"),
                source_arn=item.get("SourceArn", source_arn),
                destination_arn=item.get("DestinationArn"),
                rate=item.get("MaxNumberOfMessagesPerSecond"),
                moved=item.get("ApproximateNumberOfMessagesMoved", 0),
                to_move=item.get("ApproximateNumberOfMessagesToMove"),
                failure_reason=item.get("FailureReason"),
                # StartedTimestamp is epoch milliseconds.
                started_at=datetime.fromtimestamp(item["StartedTimestamp"] / 1000, UTC)
                if "StartedTimestamp" in item
                else None,
            )
            for item in results
        ]

    def cancel_move_task(self, handle: str) -> int:
        """Cancel a running move task; return how many messages it had moved."""
        with _unsupported_translated():
            return self.client.cancel_message_move_task(TaskHandle=handle).get("ApproximateNumberOfMessagesMoved", 0)


@contextmanager
def _unsupported_translated() -> Iterator[None]:
    try:
        yield
    except botocore_errors() as exc:  # classified right here: unsupported first, then the common classification
        response: Any = getattr(exc, "response", None)
        status = int((response or {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = error_code(exc)
        if code in _NOT_IMPLEMENTED_CODES or (status >= _SERVER_ERROR_STATUS and code == str(status)):
            raise RedriveUnsupportedError(
                "this SQS endpoint does not support native redrive (StartMessageMoveTask); "
                "use 'sluice dlq replay' instead"
            ) from exc
        raise classify_sqs_error(exc, what="dead-letter queue") from exc


class SqsDeadLetterQueue:
    """One dead-letter queue: receive with all attributes, change visibility, delete, purge, count.

    The SQS calls are :class:`sluice_shared.sqs.SqsQueue`'s; this class reads what it receives as
    :class:`DeadLetter` and maps what SQS refuses back onto the dead letters given.
    """

    def __init__(self, client: SQSClient, info: QueueInfo) -> None:
        self.client = client
        self.info = info
        self._queue = SqsQueue(info.url, client=client, what="dead-letter queue")

    @property
    def url(self) -> str:
        """The queue URL."""
        return self.info.url

    @property
    def fifo(self) -> bool:
        """True for a FIFO queue."""
        return self.info.fifo

    def depth(self) -> QueueDepth:
        """Approximate number of messages visible, in flight and delayed (``GetQueueAttributes``)."""
        return self._queue.depth()

    def receive(self, *, max_messages: int, visibility_timeout: int, wait_seconds: int) -> list[DeadLetter]:
        """Receive up to ``max_messages`` (1..10) and hide them for ``visibility_timeout`` seconds.

        Receiving increments each message's ``ApproximateReceiveCount``. ``wait_seconds`` > 0 long-polls, which
        queries every SQS server, so an empty answer means no message is visible.
        """
        received = self._queue.receive(
            max_messages=max_messages, wait_seconds=wait_seconds, visibility_timeout=visibility_timeout
        )
        return [DeadLetter.from_sqs(message) for message in received]

    def change_visibility(self, messages: Sequence[DeadLetter], seconds: int) -> list[DeadLetter]:
        """Hide ``messages`` for ``seconds`` from now (0: visible again at once); return those SQS refused."""
        refused = self._queue.change_visibility([message.receipt_handle for message in messages], seconds)
        return [messages[position] for position in refused]

    def delete(self, messages: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Delete ``messages`` (``DeleteMessageBatch``); return those SQS did not delete."""
        refused = self._queue.delete_receipts([message.receipt_handle for message in messages])
        return [messages[position] for position in refused]

    def purge(self) -> None:
        """Delete every message (``PurgeQueue``; SQS allows one purge per queue every 60 seconds)."""
        self._queue.purge()
