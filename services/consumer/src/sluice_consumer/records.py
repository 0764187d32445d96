"""A typed, read-only view of the SQS event Lambda hands the consumer.

Only what the consumer uses is extracted: message id (the batch item identifier), body, message attributes
(kept to be forwarded to the DLQ), receive count, FIFO group id, sent timestamp and the source queue ARN.
See "Using Lambda with Amazon SQS" in the AWS Lambda developer guide for the event shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice_shared.errors import ConfigurationError
from sluice_shared.sqs import is_fifo_queue

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["InvalidEventError", "SqsBatch", "SqsRecord"]


class InvalidEventError(ConfigurationError):
    """The Lambda event is not an SQS event (the function is wired to the wrong trigger)."""

    code = "invalid_event"


@dataclass(frozen=True, slots=True, kw_only=True)
class SqsRecord:
    """One SQS message as Lambda delivers it."""

    message_id: str
    body: str
    message_attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    receive_count: int = 1
    group_id: str | None = None
    event_source_arn: str | None = None

    @classmethod
    def from_lambda(cls, record: Mapping[str, Any]) -> SqsRecord:
        """Read one record of ``event["Records"]``.

        Raises:
            InvalidEventError: the record has no ``messageId`` (it could not even be reported as failed).
        """
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise InvalidEventError("SQS record without a messageId: is the function wired to an SQS queue?")
        attributes: Mapping[str, Any] = record.get("attributes") or {}
        body = record.get("body")
        return cls(
            message_id=message_id,
            # A missing body is kept as empty text: validation then rejects it with a clear reason.
            body=body if isinstance(body, str) else "",
            message_attributes=record.get("messageAttributes") or {},
            receive_count=_int(attributes.get("ApproximateReceiveCount"), default=1),
            group_id=attributes.get("MessageGroupId"),
            event_source_arn=record.get("eventSourceARN"),
        )

    @property
    def queue_name(self) -> str | None:
        """The source queue's name, the last part of its ARN."""
        return self.event_source_arn.rsplit(":", 1)[-1] if self.event_source_arn else None


@dataclass(frozen=True, slots=True)
class SqsBatch:
    """The records of one invocation, in delivery order, and whether they come from a FIFO queue."""

    records: tuple[SqsRecord, ...]
    fifo: bool = False
    """True for a batch from a FIFO queue (its ARN ends in ``.fifo`` or its records carry group ids)."""

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> SqsBatch:
        """Read an SQS event (``{"Records": [...]}``).

        Raises:
            InvalidEventError: the event has no ``Records`` list or a record has no ``messageId``.
        """
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list):
            raise InvalidEventError("event has no 'Records' list: is the function wired to an SQS queue?")
        parsed = tuple(SqsRecord.from_lambda(record) for record in records)
        return cls(parsed, fifo=_from_fifo_queue(parsed))

    @property
    def source_queue(self) -> str | None:
        """The source queue's ARN (one event source mapping reads one queue)."""
        return self.records[0].event_source_arn if self.records else None

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[SqsRecord]:
        return iter(self.records)


def _from_fifo_queue(records: tuple[SqsRecord, ...]) -> bool:
    # One event source mapping reads one queue: its name, or any record's group id, says whether it is FIFO.
    if records and is_fifo_queue(records[0].queue_name or ""):
        return True
    return any(record.group_id is not None for record in records)


def _int(value: object, *, default: int | None) -> Any:
    try:
        return int(str(value)) if value is not None else default
    except ValueError:
        return default
