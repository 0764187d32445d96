"""Why a message was dead-lettered, carried as SQS message attributes next to the original ones.

The consumer attaches a :class:`DeadLetterReason` when it sends a permanently failing message to the DLQ;
``sluice dlq`` reads it back to show and filter by reason, and strips it again when replaying. SQS allows
10 attributes per message: when the originals leave too few slots for one attribute per field, the reason
is packed as JSON into the single attribute ``sluice.dlq.reason``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from sluice_shared.errors import (
    ConflictingDuplicateError,
    ConstraintViolationError,
    InvalidMessageError,
    SluiceError,
)
from sluice_shared.limits import SQS_MAX_MESSAGE_ATTRIBUTES

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

__all__ = [
    "ATTRIBUTE_PREFIX",
    "CONSTRAINT",
    "ERROR_CODE",
    "ERROR_FIELD",
    "ERROR_MESSAGE",
    "FAILED_AT",
    "PACKED_REASON",
    "SOURCE_QUEUE",
    "DeadLetterReason",
    "strip_reason",
]

ATTRIBUTE_PREFIX: Final = "sluice.dlq."
ERROR_CODE: Final = "sluice.dlq.error_code"
ERROR_MESSAGE: Final = "sluice.dlq.error_message"
ERROR_FIELD: Final = "sluice.dlq.error_field"
CONSTRAINT: Final = "sluice.dlq.constraint"
SOURCE_QUEUE: Final = "sluice.dlq.source_queue"
FAILED_AT: Final = "sluice.dlq.failed_at"
PACKED_REASON: Final = "sluice.dlq.reason"
# Error messages never contain payload values (pydantic input is excluded); the cap bounds attribute size.
ERROR_MESSAGE_MAX_CHARS: Final = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterReason:
    """The failure that sent a message to the DLQ: error code, message, field path, source queue, time."""

    error_code: str
    error_message: str
    error_field: str | None = None
    constraint: str | None = None
    """For a row the database refused: the constraint (or ``<table>.<column> not null``) it broke."""
    source_queue: str | None = None
    failed_at: datetime

    @classmethod
    def from_error(
        cls, error: SluiceError, *, source_queue: str | None, now: datetime | None = None
    ) -> DeadLetterReason:
        """Describe ``error`` (its ``code``, message and, for contract errors and conflicts, the field at fault)."""
        field = error.field if isinstance(error, InvalidMessageError | ConflictingDuplicateError) else None
        return cls(
            error_code=error.code,
            error_message=error.message[:ERROR_MESSAGE_MAX_CHARS],
            error_field=field,
            constraint=error.constraint if isinstance(error, ConstraintViolationError) else None,
            source_queue=source_queue,
            failed_at=now or datetime.now(UTC),
        )

    def _fields(self) -> dict[str, str]:
        values = {
            ERROR_CODE: self.error_code,
            ERROR_MESSAGE: self.error_message,
            ERROR_FIELD: self.error_field,
            CONSTRAINT: self.constraint,
            SOURCE_QUEUE: self.source_queue,
            FAILED_AT: self.failed_at.isoformat(),
        }
        return {name: value for name, value in values.items() if value}

    def attach(
        self, original: Mapping[str, MessageAttributeValueTypeDef]
    ) -> dict[str, MessageAttributeValueTypeDef] | None:
        """The original attributes (minus any earlier reason) plus this reason; ``None`` when no slot is free."""
        kept = strip_reason(original)
        fields = self._fields()
        if len(kept) + len(fields) <= SQS_MAX_MESSAGE_ATTRIBUTES:
            return kept | {name: _string(value) for name, value in fields.items()}
        if len(kept) < SQS_MAX_MESSAGE_ATTRIBUTES:
            packed = json.dumps({**asdict(self), "failed_at": self.failed_at.isoformat()}, separators=(",", ":"))
            return kept | {PACKED_REASON: _string(packed)}
        return None

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Mapping[str, Any]]) -> DeadLetterReason | None:
        """Read a reason back from SQS API (``StringValue``) or Lambda (``stringValue``) attributes."""
        values = {name: _read_string(value) for name, value in attributes.items() if name.startswith(ATTRIBUTE_PREFIX)}
        if PACKED_REASON in values:
            try:
                data = json.loads(values[PACKED_REASON] or "{}")
                return cls(
                    error_code=str(data["error_code"]),
                    error_message=str(data.get("error_message", "")),
                    error_field=data.get("error_field"),
                    constraint=data.get("constraint"),
                    source_queue=data.get("source_queue"),
                    failed_at=datetime.fromisoformat(data["failed_at"]),
                )
            except (ValueError, KeyError, TypeError):
                return None
        code = values.get(ERROR_CODE)
        if not code:
            return None
        failed_at = values.get(FAILED_AT)
        try:
            when = datetime.fromisoformat(failed_at) if failed_at else datetime.fromtimestamp(0, UTC)
        except ValueError:
            when = datetime.fromtimestamp(0, UTC)
        return cls(
            error_code=code,
            error_message=values.get(ERROR_MESSAGE) or "",
            error_field=values.get(ERROR_FIELD),
            constraint=values.get(CONSTRAINT),
            source_queue=values.get(SOURCE_QUEUE),
            failed_at=when,
        )


def strip_reason(attributes: Mapping[str, MessageAttributeValueTypeDef]) -> dict[str, MessageAttributeValueTypeDef]:
    """The attributes without Sluice's dead-letter reason (what a replay sends back to the source queue)."""
    return {name: value for name, value in attributes.items() if not name.startswith(ATTRIBUTE_PREFIX)}


def _string(value: str) -> MessageAttributeValueTypeDef:
    return {"DataType": "String", "StringValue": value}


def _read_string(value: Mapping[str, Any]) -> str | None:
    found = value.get("StringValue", value.get("stringValue"))
    return None if found is None else str(found)
