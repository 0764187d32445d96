"""Sending to SQS in batches: chunking to the API's limits and retrying only what SQS did not accept.

One sender serves the event publisher (ingest function and ``sluice push``), the consumer's dead-letter
sink and ``sluice dlq replay``. It never resends an entry SQS reported as successful: duplicates could only
come from a lost response, and Sluice's writes are idempotent on ``event_id`` for that case.

:class:`SendPipeline` sends a stream of messages with a bounded number of ``SendMessageBatch`` calls in
flight, keeping each FIFO message group's order (``sluice push``).
"""

from __future__ import annotations

import base64
import random
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, Self

from sluice_shared.aws import botocore_errors, classify_sqs_error, sqs_client
from sluice_shared.contract import SQS_MAX_MESSAGE_BYTES
from sluice_shared.errors import (
    MessageRejectedError,
    MessageTooLargeError,
    PermanentError,
    QueueUnavailableError,
    SluiceError,
)

if TYPE_CHECKING:
    from types import TracebackType

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

__all__ = [
    "SQS_MAX_BATCH_BYTES",
    "SQS_MAX_BATCH_ENTRIES",
    "SQS_MAX_MESSAGE_ATTRIBUTES",
    "BatchSender",
    "MessageSender",
    "OutgoingMessage",
    "RetryPolicy",
    "SendOutcome",
    "SendPipeline",
    "attributes_from_lambda",
    "attributes_to_lambda",
    "message_size",
]

SQS_MAX_BATCH_ENTRIES: Final = 10  # SendMessageBatch / DeleteMessageBatch: at most 10 entries a request
SQS_MAX_BATCH_BYTES: Final = 1_048_576  # SendMessageBatch: the sum of all entries' sizes, 1 MiB
SQS_MAX_MESSAGE_ATTRIBUTES: Final = 10  # SQS: at most 10 message attributes per message

Attributes = Mapping[str, "MessageAttributeValueTypeDef"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """One message to send. ``key`` is the caller's handle on its outcome (any string, unique per call)."""

    key: str
    body: str
    attributes: Attributes = field(default_factory=dict)
    group_id: str | None = None
    deduplication_id: str | None = None
    # X-Ray trace header, sent as the ``AWSTraceHeader`` message system attribute (which SQS does not count
    # against the message size).
    trace_header: str | None = None

    def size(self) -> int:
        """Size as SQS counts it against its limits: body plus attribute names, types and values."""
        return message_size(self.body, self.attributes)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What happened to one message: its SQS message id, or the error that kept it from being sent."""

    key: str
    message_id: str | None = None
    error: SluiceError | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True when SQS accepted the message."""
        return self.message_id is not None


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


def message_size(body: str, attributes: Attributes) -> int:
    """Bytes SQS counts for a message: UTF-8 body, plus each attribute's name, data type and value."""
    size = len(body.encode("utf-8", errors="surrogatepass"))
    for name, value in attributes.items():
        size += len(name.encode()) + len(value["DataType"].encode())
        if "StringValue" in value:
            size += len(value["StringValue"].encode("utf-8", errors="surrogatepass"))
        if "BinaryValue" in value:
            binary = value["BinaryValue"]
            size += len(binary if isinstance(binary, bytes | bytearray) else bytes(binary))  # type: ignore[arg-type]
    return size


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
        chunk = _Chunk()
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
                chunk = _Chunk()
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
class _Chunk:
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


class SendPipeline:
    """Sends a stream of messages, one ``SendMessageBatch``-sized chunk per call, at most ``max_in_flight`` at once.

    Messages are added one by one and chunked to SQS's limits (10 entries, 1 MiB); a full chunk is handed to
    ``sender.send`` on a worker thread, waiting first while ``max_in_flight`` calls are already running, so
    memory stays bounded by the chunks in flight whatever the length of the stream. With ``max_in_flight=1``
    every call is made on the calling thread, one after the other.

    FIFO (messages with a group id): SQS keeps a group's messages in the order it *receives* them, so two
    chunks holding the same group must never be in flight together, nor may a later one overtake an earlier
    one's retries. Each group is pinned to one of ``max_in_flight`` lanes by a stable hash; each lane fills
    its own chunks and has at most one in flight (retries included), so a group's messages reach SQS in the
    order they were added while other lanes send concurrently. One group alone therefore sends one chunk at
    a time, which is what its order requires. Standard queues have no order to keep: any chunk may go.

    Use as a context manager: leaving it waits for the calls in flight (their outcomes are then lost to the
    caller, so call :meth:`flush` first) and stops the worker threads.
    """

    def __init__(self, sender: MessageSender, *, max_in_flight: int = 1) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._sender = sender
        self._max_in_flight = max_in_flight
        self._open: dict[int | None, _Chunk] = {}
        self._lane_tail: dict[int, Future[list[SendOutcome]]] = {}
        self._in_flight: set[Future[list[SendOutcome]]] = set()
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def max_in_flight(self) -> int:
        """The most ``SendMessageBatch`` calls ever running at once."""
        return self._max_in_flight

    def add(self, message: OutgoingMessage) -> list[list[SendOutcome]]:
        """Queue ``message`` for sending; return the chunks' outcomes that settled meanwhile (often none).

        Blocks while ``max_in_flight`` calls are running and a chunk is ready to go.
        """
        lane = self._lane(message)
        size = message.size()
        settled: list[list[SendOutcome]] = []
        chunk = self._open.get(lane)
        if chunk is not None and not chunk.fits(size):  # over 1 MiB with this one: the chunk goes as it is
            settled.extend(self._dispatch(lane, self._open.pop(lane).messages))
        chunk = self._open.setdefault(lane, _Chunk())
        chunk.add(message, size)
        if len(chunk.messages) == SQS_MAX_BATCH_ENTRIES:
            settled.extend(self._dispatch(lane, self._open.pop(lane).messages))
        return settled

    def discard(self) -> list[OutgoingMessage]:
        """Take back the messages of the chunks still filling, unsent (the calls in flight go on)."""
        messages = [message for chunk in self._open.values() for message in chunk.messages]
        self._open.clear()
        return messages

    def flush(self) -> list[list[SendOutcome]]:
        """Send every chunk still filling, wait for every call in flight; return the outcomes not yet returned."""
        settled: list[list[SendOutcome]] = []
        while self._open:
            lane, chunk = self._open.popitem()
            settled.extend(self._dispatch(lane, chunk.messages))
        while self._in_flight:
            settled.extend(self._settle(self._in_flight, wait_for_all=True))
        return settled

    def _lane(self, message: OutgoingMessage) -> int | None:
        if message.group_id is None:
            return None
        return zlib.crc32(message.group_id.encode()) % self._max_in_flight

    def _dispatch(self, lane: int | None, messages: list[OutgoingMessage]) -> list[list[SendOutcome]]:
        if self._max_in_flight == 1:
            return [self._sender.send(messages)]
        settled: list[list[SendOutcome]] = []
        tail = self._lane_tail.get(lane) if lane is not None else None
        if tail is not None and tail in self._in_flight:
            settled.extend(self._settle({tail}, wait_for_all=True))  # the lane's previous chunk goes first
        while len(self._in_flight) >= self._max_in_flight:
            settled.extend(self._settle(self._in_flight, wait_for_all=False))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._max_in_flight, thread_name_prefix="sluice-send")
        future = self._pool.submit(self._sender.send, messages)
        self._in_flight.add(future)
        if lane is not None:
            self._lane_tail[lane] = future
        settled.extend(self._settle({f for f in self._in_flight if f.done()}, wait_for_all=True))
        return settled

    def _settle(self, futures: set[Future[list[SendOutcome]]], *, wait_for_all: bool) -> list[list[SendOutcome]]:
        if not futures:
            return []
        done, _ = wait(futures, return_when=ALL_COMPLETED if wait_for_all else FIRST_COMPLETED)
        self._in_flight.difference_update(done)
        # A sender never raises for a queue error: an exception here is a bug, and result() re-raises it.
        return [future.result() for future in done]


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


def attributes_from_lambda(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, MessageAttributeValueTypeDef]:
    """Convert a Lambda SQS record's ``messageAttributes`` (camelCase, base64 binaries) to the SQS API shape."""
    converted: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in attributes.items():
        data_type = str(value.get("dataType") or value.get("DataType") or "String")
        item: MessageAttributeValueTypeDef = {"DataType": data_type}
        string_value = value.get("stringValue", value.get("StringValue"))
        binary_value = value.get("binaryValue", value.get("BinaryValue"))
        if string_value is not None:
            item["StringValue"] = str(string_value)
        elif binary_value is not None:
            item["BinaryValue"] = (
                binary_value if isinstance(binary_value, bytes) else base64.b64decode(str(binary_value))
            )
        converted[name] = item
    return converted


def attributes_to_lambda(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Convert SQS API message attributes to the shape Lambda puts in an SQS event record."""
    converted: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = base64.b64encode(bytes(value["BinaryValue"])).decode("ascii")
        converted[name] = item
    return converted
