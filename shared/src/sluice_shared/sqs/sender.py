"""Sending to SQS in batches: chunking to the API's limits and retrying only what SQS did not accept.

One sender serves the event publisher (ingest function and ``sluice push``), the consumer's dead-letter
sink and ``sluice dlq replay``. It never resends an entry SQS reported as successful: duplicates could only
come from a lost response, and Sluice's writes are idempotent on ``event_id`` for that case.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sluice_shared.aws import botocore_errors, classify_sqs_error, sqs_client
from sluice_shared.errors import (
    MessageRejectedError,
    MessageTooLargeError,
    PermanentError,
    QueueUnavailableError,
    SluiceError,
)
from sluice_shared.limits import SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES, SQS_MAX_MESSAGE_BYTES
from sluice_shared.sqs.messages import OutgoingMessage, SendOutcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

__all__ = ["BatchChunk", "BatchSender", "MessageSender", "RetryPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

    max_attempts: int = 6
    base_delay_seconds: float = 0.05
    max_delay_seconds: float = 5.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2.0 ** (attempt - 1))
        return ceiling * rng()


class BatchSender:
    """Sends messages to one queue with ``SendMessageBatch``.

    Chunks to 10 entries and 1 MiB a request; rejects a single message over 1 MiB without sending it;
    retries throttling, network and server errors, and entries SQS reports failed on its side, with
    bounded exponential backoff and jitter; reports entries SQS refuses as the sender's fault at once.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        client: SQSClient | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.queue_url = queue_url
        self._client = client
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng

    @property
    def client(self) -> SQSClient:
        """The SQS client for this queue (see :func:`sluice_shared.aws.sqs_client`), created on first use."""
        if self._client is None:
            self._client = sqs_client(queue=self.queue_url)
        return self._client

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        on_sent: Callable[[Sequence[SendOutcome]], None] | None = None,
    ) -> list[SendOutcome]:
        """Send every message; return one outcome per message, in input order.

        ``on_sent`` is called after each request's chunk is settled (for progress bars). Never raises for a
        queue error: errors are reported per message (``QueueNotFoundError``, ``QueueUnavailableError``, ...).
        """
        outcomes: dict[str, SendOutcome] = {}
        for chunk in self._chunks(messages, outcomes, on_sent):
            settled = self._send_chunk(chunk)
            outcomes.update((outcome.key, outcome) for outcome in settled)
            if on_sent is not None:
                on_sent(settled)
        return [outcomes[message.key] for message in messages]

    def _chunks(
        self,
        messages: Sequence[OutgoingMessage],
        outcomes: dict[str, SendOutcome],
        on_sent: Callable[[Sequence[SendOutcome]], None] | None,
    ) -> Iterator[list[OutgoingMessage]]:
        chunk = BatchChunk()
        for message in messages:
            size = message.size()
            if size > SQS_MAX_MESSAGE_BYTES:
                error = MessageTooLargeError.single(
                    None, f"message is {size} bytes; SQS accepts at most {SQS_MAX_MESSAGE_BYTES} bytes"
                )
                rejected = SendOutcome(message.key, error=error)
                outcomes[message.key] = rejected
                if on_sent is not None:
                    on_sent([rejected])
                continue
            if not chunk.fits(size):
                yield chunk.messages
                chunk = BatchChunk()
            chunk.add(message, size)
        if chunk.messages:
            yield chunk.messages

    def _send_chunk(self, chunk: list[OutgoingMessage]) -> list[SendOutcome]:
        settled: list[SendOutcome] = []
        # Entry ids are positions: callers' keys need not be valid or distinct batch entry ids.
        pending = dict(enumerate(chunk))
        for attempt in range(1, self._retry.max_attempts + 1):
            last = attempt == self._retry.max_attempts
            try:
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[_entry(str(index), message) for index, message in pending.items()],
                )
            # A client that cannot be created (no region) fails these entries as a SluiceError already is; only
            # botocore's errors are classified, anything else is a bug and propagates.
            except botocore_errors(SluiceError) as exc:
                error = exc if isinstance(exc, SluiceError) else classify_sqs_error(exc)
                if isinstance(error, PermanentError) or last:
                    settled.extend(SendOutcome(m.key, error=error, attempts=attempt) for m in pending.values())
                    return settled
                self._sleep(self._retry.delay(attempt, self._rng))
                continue
            for success in response.get("Successful", []):
                message = pending.pop(int(success["Id"]))
                settled.append(SendOutcome(message.key, message_id=success["MessageId"], attempts=attempt))
            for failure in response.get("Failed", []):
                index = int(failure["Id"])
                if failure.get("SenderFault", False):
                    message = pending.pop(index)
                    error = MessageRejectedError(
                        f"SQS rejected the message ({failure['Code']}): {failure.get('Message')}"
                    )
                    settled.append(SendOutcome(message.key, error=error, attempts=attempt))
                elif last:
                    message = pending.pop(index)
                    error = QueueUnavailableError(
                        f"SQS failed the message {attempt} times ({failure['Code']}): {failure.get('Message')}"
                    )
                    settled.append(SendOutcome(message.key, error=error, attempts=attempt))
            if not pending:
                return settled
            self._sleep(self._retry.delay(attempt, self._rng))
        # Unreachable in practice: every path above settles all entries on the last attempt.
        settled.extend(
            SendOutcome(m.key, error=QueueUnavailableError("SQS did not settle the message"), attempts=0)
            for m in pending.values()
        )
        return settled


@dataclass(slots=True)
class BatchChunk:
    """The messages of one ``SendMessageBatch`` request being filled, and their size as SQS counts it."""

    messages: list[OutgoingMessage] = field(default_factory=list)
    size: int = 0

    def fits(self, size: int) -> bool:
        """True when a message of ``size`` bytes can join (an empty chunk takes anything: one message a request)."""
        if not self.messages:
            return True
        return len(self.messages) < SQS_MAX_BATCH_ENTRIES and self.size + size <= SQS_MAX_BATCH_BYTES

    def add(self, message: OutgoingMessage, size: int) -> None:
        self.messages.append(message)
        self.size += size


class MessageSender(Protocol):
    """Sends messages to one queue; :class:`BatchSender` is the real one."""

    @property
    def queue_url(self) -> str:
        """The queue messages go to."""
        ...

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        on_sent: Callable[[Sequence[SendOutcome]], None] | None = None,
    ) -> list[SendOutcome]:
        """Send every message; one outcome per message, in input order; never raises for a queue error."""
        ...


def _entry(entry_id: str, message: OutgoingMessage) -> SendMessageBatchRequestEntryTypeDef:
    entry: SendMessageBatchRequestEntryTypeDef = {"Id": entry_id, "MessageBody": message.body}
    if message.attributes:
        entry["MessageAttributes"] = dict(message.attributes)
    if message.group_id is not None:
        entry["MessageGroupId"] = message.group_id
    if message.deduplication_id is not None:
        entry["MessageDeduplicationId"] = message.deduplication_id
    if message.trace_header is not None:
        entry["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": message.trace_header}
        }
    return entry
