"""A dead-lettered message as ``sluice dlq`` sees it: body, attributes, why it failed, how old it is.

Built from an SQS ``ReceiveMessage`` result. The body is parsed leniently (dead letters are often invalid on
purpose), only to show and filter by ``event_id`` and ``event_type``; it is never re-serialized for sending.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, cast

from sluice_shared.dead_letter import ATTRIBUTE_PREFIX, DeadLetterReason

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

__all__ = [
    "MAX_RECEIVE_COUNT_EXCEEDED",
    "UNREADABLE_REASON",
    "DeadLetter",
]

# SQS's own redrive policy moves a message after maxReceiveCount receives and attaches nothing: the only
# messages without any Sluice reason in a Sluice DLQ are those.
MAX_RECEIVE_COUNT_EXCEEDED: Final = "max_receive_count_exceeded"
# A message carries sluice.dlq.* attributes that cannot be read back as a reason.
UNREADABLE_REASON: Final = "unknown"
EXCERPT_CHARS: Final = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """One message received from the DLQ, with the receipt handle of that receive."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, MessageAttributeValueTypeDef] = field(default_factory=dict)
    sent_at: datetime | None = None
    receive_count: int = 0
    group_id: str | None = None
    reason: DeadLetterReason | None = None
    parsed_body: Any = None
    """The body as JSON data, ``None`` when it is not JSON."""

    @classmethod
    def from_sqs(cls, message: MessageTypeDef) -> DeadLetter:
        """Read a ``ReceiveMessage`` result (requested with all system and message attributes)."""
        system = message.get("Attributes", {})
        # What ReceiveMessage returns is valid input for SendMessage (the replay sends it back as it came).
        attributes = cast("dict[str, MessageAttributeValueTypeDef]", dict(message.get("MessageAttributes", {})))
        sent = system.get("SentTimestamp")
        body = message.get("Body", "")
        return cls(
            message_id=message.get("MessageId", ""),
            receipt_handle=message.get("ReceiptHandle", ""),
            body=body,
            attributes=attributes,
            # SentTimestamp is epoch milliseconds; on a standard queue SQS keeps the original enqueue time
            # when its redrive policy moves a message to the DLQ (a FIFO DLQ resets it).
            sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
            receive_count=int(system.get("ApproximateReceiveCount", "0")),
            group_id=system.get("MessageGroupId"),
            reason=DeadLetterReason.from_attributes(attributes),
            parsed_body=_parse(body),
        )

    @property
    def error_type(self) -> str:
        """The Sluice error code, or why there is none (moved by SQS after maxReceiveCount, or unreadable)."""
        if self.reason is not None:
            return self.reason.error_code
        if any(name.startswith(ATTRIBUTE_PREFIX) for name in self.attributes):
            return UNREADABLE_REASON
        return MAX_RECEIVE_COUNT_EXCEEDED

    @property
    def event_id(self) -> str | None:
        """The body's ``event_id`` when the body is a JSON object that has a string one."""
        return self._body_text("event_id")

    @property
    def event_type(self) -> str | None:
        """The body's ``event_type`` when the body is a JSON object that has a string one."""
        return self._body_text("event_type")

    def age(self, now: datetime) -> timedelta | None:
        """Time since SQS's ``SentTimestamp``; ``None`` when SQS did not return one."""
        return None if self.sent_at is None else max(now - self.sent_at, timedelta(0))

    def excerpt(self, chars: int = EXCERPT_CHARS) -> str:
        """The start of the body on one line, for tables."""
        flat = " ".join(self.body.split())
        return flat if len(flat) <= chars else flat[: chars - 1] + "\u2026"

    def _body_text(self, name: str) -> str | None:
        if isinstance(self.parsed_body, dict):
            value = self.parsed_body.get(name)
            if isinstance(value, str):
                return value
        return None


def _parse(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser's recursion limit
        return None
