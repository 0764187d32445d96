"""The event publisher: validates events against the contract, then sends them to SQS in batches.

One publisher serves the ingest function and ``sluice push``. Every event is validated before it is sent
(an invalid event is reported with its reason and never sent); valid events go out through
:class:`~sluice_shared.sqs.BatchSender` (``SendMessageBatch`` chunked by entries and bytes, only failed
entries retried). :meth:`EventPublisher.publish` returns a :class:`PublishReceipt`: each event's id with its
SQS message id, or why it was rejected (the event's fault) or failed (the queue's).
:meth:`EventPublisher.stream` does the same for a stream of any length, yielding each result as it settles
and keeping only the batches in flight in memory, with several ``SendMessageBatch`` calls at once if asked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from sluice_shared.contract import MAX_BODY_BYTES, EventEnvelope, validate_event
from sluice_shared.errors import InvalidMessageError, MessageRejectedError, SluiceError
from sluice_shared.sqs import MessageSender, OutgoingMessage, SendOutcome, SendPipeline, is_fifo_queue

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

    from sluice_shared.registry import PayloadRegistry

__all__ = [
    "CORRELATION_ID_ATTRIBUTE",
    "DEFAULT_FIFO_GROUP_FIELD",
    "EventPublisher",
    "EventResult",
    "EventStatus",
    "MessageSender",
    "PublishReceipt",
]

CORRELATION_ID_ATTRIBUTE: Final = "sluice.correlation_id"
DEFAULT_FIFO_GROUP_FIELD: Final = "source"
# SQS MessageGroupId / MessageDeduplicationId: 1..128 characters, alphanumeric and punctuation.
_FIFO_ID: Final = re.compile(r"^[\x21-\x7e]{1,128}$")
# Correlation ids are echoed into logs and attributes: printable ASCII, bounded.
CORRELATION_ID_MAX_LENGTH: Final = 128
UNVALIDATED_GROUP_ID: Final = "sluice-unvalidated"


class EventStatus(StrEnum):
    """What became of one event."""

    QUEUED = "queued"
    """SQS accepted it."""
    REJECTED = "rejected"
    """The event is at fault (breaks the contract, too large, refused by SQS); resending it cannot help."""
    FAILED = "failed"
    """The queue is at fault (unreachable, throttled, missing, access denied); it may be sent again later."""


@dataclass(frozen=True, slots=True)
class EventResult:
    """One event's outcome: its position in the input, its id when known, and its message id or error."""

    index: int
    event_id: str | None
    status: EventStatus
    message_id: str | None = None
    error: SluiceError | None = None

    def to_dict(self, *, expose_failures: bool = True) -> dict[str, Any]:
        """JSON-ready form. ``expose_failures=False`` hides queue-side error text (for HTTP clients)."""
        data: dict[str, Any] = {"index": self.index, "event_id": self.event_id, "status": self.status.value}
        if self.message_id is not None:
            data["message_id"] = self.message_id
        if self.error is not None:
            data["error"] = _error_dict(self.error, expose=expose_failures or self.status is EventStatus.REJECTED)
        return data


def _error_dict(error: SluiceError, *, expose: bool) -> dict[str, Any]:
    if not expose:
        return {"code": error.code, "message": "the event could not be queued; send it again later"}
    data: dict[str, Any] = {"code": error.code, "message": error.message}
    if isinstance(error, InvalidMessageError):
        data["fields"] = [{"field": item.field, "reason": item.reason} for item in error.errors]
    return data


@dataclass(frozen=True, slots=True)
class PublishReceipt:
    """Every event's outcome, in input order."""

    results: tuple[EventResult, ...]

    @property
    def queued(self) -> tuple[EventResult, ...]:
        """Events SQS accepted."""
        return self._with(EventStatus.QUEUED)

    @property
    def rejected(self) -> tuple[EventResult, ...]:
        """Events that were not sent (or were refused) because of what they contain."""
        return self._with(EventStatus.REJECTED)

    @property
    def failed(self) -> tuple[EventResult, ...]:
        """Events the queue did not take: unreachable, throttled, missing or access denied."""
        return self._with(EventStatus.FAILED)

    @property
    def ok(self) -> bool:
        """True when every event was queued."""
        return all(result.status is EventStatus.QUEUED for result in self.results)

    def _with(self, status: EventStatus) -> tuple[EventResult, ...]:
        return tuple(result for result in self.results if result.status is status)

    def to_dict(self, *, expose_failures: bool = True) -> dict[str, Any]:
        """JSON-ready form: counts, then one entry per event."""
        return {
            "queued": len(self.queued),
            "rejected": len(self.rejected),
            "failed": len(self.failed),
            "results": [result.to_dict(expose_failures=expose_failures) for result in self.results],
        }


class EventPublisher:
    """Validates events and sends the valid ones to one queue.

    For a FIFO queue the message group id comes from ``fifo_group_field`` (a top-level envelope field such
    as ``source``, or ``payload.<path>``) and the deduplication id is the ``event_id``, so SQS drops a
    resend within its 5-minute deduplication window.
    """

    def __init__(
        self,
        sender: MessageSender,
        *,
        registry: PayloadRegistry | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        fifo_group_field: str = DEFAULT_FIFO_GROUP_FIELD,
    ) -> None:
        self._sender = sender
        self._registry = registry
        self._max_body_bytes = max_body_bytes
        self._group_path = tuple(fifo_group_field.split("."))

    @property
    def queue_url(self) -> str:
        """The queue events are sent to."""
        return self._sender.queue_url

    @property
    def fifo(self) -> bool:
        """True when the queue is a FIFO queue."""
        return is_fifo_queue(self._sender.queue_url)

    def prepare(
        self,
        event: Any,
        *,
        key: str = "0",
        correlation_id: str | None = None,
        trace_header: str | None = None,
        validate: bool = True,
    ) -> OutgoingMessage:
        """The message that would be sent for ``event``; validates it unless ``validate`` is false.

        Raises:
            InvalidMessageError: the event breaks the contract, or has no usable FIFO message group id.
        """
        return self._prepare(
            event, key=key, correlation_id=correlation_id, trace_header=trace_header, validate=validate
        )[0]

    def _prepare(
        self, event: Any, *, key: str, correlation_id: str | None, trace_header: str | None, validate: bool
    ) -> tuple[OutgoingMessage, str | None]:
        attributes: dict[str, MessageAttributeValueTypeDef] = {}
        if correlation_id:
            attributes[CORRELATION_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": correlation_id}
        group_id: str | None = None
        dedup_id: str | None = None
        if validate:
            envelope = validate_event(event, registry=self._registry, max_bytes=self._max_body_bytes)
            body = envelope.to_body()
            event_id: str | None = str(envelope.event_id)
            if self.fifo:
                group_id, dedup_id = self._group_id(envelope), event_id
        else:
            # As they are: a misbehaving producer bypassing validation, to exercise the consumer's DLQ path.
            body = json.dumps(event, ensure_ascii=False)
            event_id = _raw_event_id(event)
            if self.fifo:
                group_id, dedup_id = self._unvalidated_fifo_ids(event, body)
        message = OutgoingMessage(
            key=key,
            body=body,
            attributes=attributes,
            group_id=group_id,
            deduplication_id=dedup_id,
            trace_header=trace_header,
        )
        return message, event_id

    def publish(
        self,
        events: Iterable[Any],
        *,
        correlation_id: str | None = None,
        trace_header: str | None = None,
        validate: bool = True,
        on_progress: Callable[[Sequence[EventResult]], None] | None = None,
    ) -> PublishReceipt:
        """Validate and send every event, one ``SendMessageBatch`` at a time; return the receipt in input order.

        Never raises for a bad event or a queue error. ``on_progress`` is called with results as they settle.
        Once a whole request failed because of the queue itself (missing, denied, unreachable after retries),
        the remaining valid events are reported failed with the same error, without further calls.
        """
        results: list[EventResult] = []
        for result in self.stream(
            enumerate(events), correlation_id=correlation_id, trace_header=trace_header, validate=validate
        ):
            results.append(result)
            if on_progress is not None:
                on_progress([result])
        results.sort(key=lambda result: result.index)
        return PublishReceipt(tuple(results))

    def stream(
        self,
        events: Iterable[tuple[int, Any]],
        *,
        correlation_id: str | None = None,
        trace_header: str | None = None,
        validate: bool = True,
        max_in_flight: int = 1,
    ) -> Generator[EventResult]:
        """Validate and send numbered events as they are read; yield each one's result as soon as it settles.

        ``events`` are ``(number, event)`` pairs with distinct numbers (a line number, a position): a result
        carries its event's number as ``index``. Rejections come at once; sent events come back when their
        request settles, so results are not in input order when ``max_in_flight`` > 1. Memory holds only
        the requests in flight (:class:`~sluice_shared.sqs.SendPipeline`, which also keeps each FIFO message
        group in order). After a request fails wholly because of the queue itself, the remaining valid events
        are reported failed with the same error, without further calls. Never raises for a bad event or a
        queue error.
        """
        pending: dict[str, tuple[int, str | None]] = {}
        queue_error: SluiceError | None = None
        with SendPipeline(self._sender, max_in_flight=max_in_flight) as pipeline:
            for index, event in events:
                try:
                    message, event_id = self._prepare(
                        event,
                        key=str(index),
                        correlation_id=correlation_id,
                        trace_header=trace_header,
                        validate=validate,
                    )
                except InvalidMessageError as exc:
                    yield EventResult(index, _raw_event_id(event), EventStatus.REJECTED, error=exc)
                    continue
                if queue_error is not None:
                    yield EventResult(index, event_id, EventStatus.FAILED, error=queue_error)
                    continue
                pending[message.key] = (index, event_id)
                for outcomes in pipeline.add(message):
                    sent = [_result(outcome, pending.pop(outcome.key)) for outcome in outcomes]
                    queue_error = queue_error or _queue_failure(sent)
                    yield from sent
                if queue_error is not None:  # what waits for a request of its own will not get one
                    for unsent in pipeline.discard():
                        number, unsent_id = pending.pop(unsent.key)
                        yield EventResult(number, unsent_id, EventStatus.FAILED, error=queue_error)
            for outcomes in pipeline.flush():
                yield from (_result(outcome, pending.pop(outcome.key)) for outcome in outcomes)

    def _group_id(self, envelope: EventEnvelope) -> str:
        field = ".".join(self._group_path)
        value: Any = envelope.model_dump(mode="json")
        for part in self._group_path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidMessageError.single(
                field, "a FIFO queue needs a message group id from this field: a string or an integer"
            )
        group_id = str(value)
        if not _FIFO_ID.fullmatch(group_id):
            raise InvalidMessageError.single(
                field, "cannot be a FIFO message group id: 1 to 128 ASCII letters, digits or punctuation"
            )
        return group_id

    def _unvalidated_fifo_ids(self, event: Any, body: str) -> tuple[str, str]:
        value: Any = event
        for part in self._group_path:
            value = value.get(part) if isinstance(value, Mapping) else None
        group_id = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        raw_id = _raw_event_id(event) or ""
        dedup_id = raw_id if _FIFO_ID.fullmatch(raw_id) else hashlib.sha256(body.encode()).hexdigest()
        return (group_id if _FIFO_ID.fullmatch(group_id) else UNVALIDATED_GROUP_ID), dedup_id


def _result(outcome: SendOutcome, event: tuple[int, str | None]) -> EventResult:
    index, event_id = event
    if outcome.ok:
        return EventResult(index, event_id, EventStatus.QUEUED, message_id=outcome.message_id)
    # The event's own fault (too large, refused as the sender's fault) versus the queue's.
    own_fault = isinstance(outcome.error, InvalidMessageError | MessageRejectedError)
    return EventResult(index, event_id, EventStatus.REJECTED if own_fault else EventStatus.FAILED, error=outcome.error)


def _queue_failure(sent: Sequence[EventResult]) -> SluiceError | None:
    """The queue's error when nothing in one request was queued and every failure was the queue's."""
    if not sent or any(result.status is not EventStatus.FAILED for result in sent):
        return None
    return sent[0].error


def _raw_event_id(event: Any) -> str | None:
    value = event.get("event_id") if isinstance(event, Mapping) else None
    return value if isinstance(value, str) else None
