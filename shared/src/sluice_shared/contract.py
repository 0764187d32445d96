"""The wire contract: the versioned event envelope every Sluice message carries.

Producers (the ingest function, ``sluice push``, other languages through the exported JSON Schema) and the
consumer validate against the same model, so a message accepted at the door is accepted at the database.
The envelope is deliberately separate from the ``events`` table row and from any payload model: the
consumer maps it explicitly.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Final
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sluice_shared.errors import FieldError, InvalidMessageError, MalformedMessageError, MessageTooLargeError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from sluice_shared.registry import PayloadRegistry

__all__ = [
    "ATTRIBUTE_HEADROOM_BYTES",
    "EVENT_TYPE_PATTERN",
    "MAX_BODY_BYTES",
    "SQS_MAX_MESSAGE_BYTES",
    "EventEnvelope",
    "check_body_size",
    "field_errors",
    "parse_message",
    "validate_event",
]

# SQS accepts messages up to 1 MiB (1,048,576 bytes), counting the body *and* its message attributes
# (raised from 256 KiB in August 2025). A dead-lettered message gets Sluice's error attributes added, so
# the body limit keeps 16 KiB of headroom: a message valid at the door always fits in the DLQ.
SQS_MAX_MESSAGE_BYTES: Final = 1_048_576
ATTRIBUTE_HEADROOM_BYTES: Final = 16_384
MAX_BODY_BYTES: Final = SQS_MAX_MESSAGE_BYTES - ATTRIBUTE_HEADROOM_BYTES

# Short dotted names such as ``order.created``: lower-case segments, at least two of them.
EVENT_TYPE_PATTERN: Final = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
EVENT_TYPE_MAX_LENGTH: Final = 128
SOURCE_MAX_LENGTH: Final = 256
SCHEMA_VERSION_MAX: Final = 10_000

# PostgreSQL text and jsonb cannot hold NUL, and a lone UTF-16 surrogate cannot be encoded as UTF-8.
_UNSTORABLE_CHARS: Final = re.compile("[\x00\ud800-\udfff]")
# The same characters as they appear in raw JSON text, escaped or not. A hit is only a hint (an escaped
# backslash followed by "u0000" is legitimate text); the exact check walks the parsed values.
_UNSTORABLE_IN_JSON: Final = re.compile(r"\\u(?:0000|[dD][89abAB][0-9a-fA-F]{2})|[\x00\ud800-\udfff]")
_SKIP_STORABLE_CHECK: Final = "sluice_skip_storable_check"
# Every character of a str is at most 4 UTF-8 bytes: bodies this short can skip encoding.
_UTF8_MAX_BYTES_PER_CHAR: Final = 4

EventType = Annotated[
    str,
    StringConstraints(strict=True, pattern=EVENT_TYPE_PATTERN, max_length=EVENT_TYPE_MAX_LENGTH),
    Field(description="Short dotted name of what happened, for example `order.created`.", examples=["order.created"]),
]
Source = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=SOURCE_MAX_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="The system that produced the event, for example `checkout-service`."),
]


class EventEnvelope(BaseModel):
    """One event as it travels through SQS: identity, type, origin, time and a JSON object payload."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="SluiceEvent",
        json_schema_extra={"$comment": "Sluice event envelope; see README 'Message contract'."},
    )

    event_id: UUID = Field(
        description="Chosen by the producer; the idempotency key. Redeliveries and replays keep it, so the "
        "consumer stores each event exactly once.",
    )
    event_type: EventType
    source: Source
    occurred_at: AwareDatetime = Field(
        description="When the event happened, as an ISO 8601 timestamp with a timezone offset.",
    )
    schema_version: StrictInt = Field(
        default=1,
        ge=1,
        le=SCHEMA_VERSION_MAX,
        description="Version of the payload schema for this event type.",
    )
    payload: dict[str, JsonValue] = Field(description="The event's data: a JSON object.")

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _timestamp_must_be_text(cls, value: object) -> object:
        # Pydantic would read a number as Unix time (seconds or milliseconds, guessed): ambiguous on the wire.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError("must be an ISO 8601 timestamp with a timezone, not a number")  # noqa: TRY004
        return value

    @model_validator(mode="after")
    def _values_must_be_storable(self, info: ValidationInfo) -> EventEnvelope:
        if info.context and info.context.get(_SKIP_STORABLE_CHECK):
            return self
        problem = _find_unstorable(self.payload, "payload")
        if problem is not None:
            # Raised as ValueError so pydantic reports it like any other field error.
            raise ValueError(f"{problem.field}: {problem.reason}")
        return self

    def to_body(self) -> str:
        """Serialize to the JSON text sent as the SQS message body."""
        return self.model_dump_json()


def _find_unstorable(value: JsonValue, path: str) -> FieldError | None:
    """Return the first string (value or object key) under ``value`` that PostgreSQL cannot store."""
    if isinstance(value, str):
        match = _UNSTORABLE_CHARS.search(value)
        if match is None:
            return None
        return FieldError(path, _unstorable_reason(match.group()))
    if isinstance(value, dict):
        for key, item in value.items():
            match = _UNSTORABLE_CHARS.search(key)
            if match is not None:
                return FieldError(path, f"an object key {_unstorable_reason(match.group())}")
            found = _find_unstorable(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_unstorable(item, f"{path}.{index}")
            if found is not None:
                return found
    return None


def _unstorable_reason(char: str) -> str:
    if char == "\x00":
        return "contains a NUL character (\\u0000), which PostgreSQL text cannot store"
    return f"contains a lone UTF-16 surrogate (\\u{ord(char):04x}), which is not valid Unicode text"


def field_errors(exc: ValidationError, *, prefix: str | None = None) -> tuple[FieldError, ...]:
    """Translate a pydantic ``ValidationError`` into field-named errors (dotted paths, no input values)."""
    return tuple(_field_error(detail, prefix) for detail in exc.errors(include_url=False, include_input=False))


def _field_error(detail: ErrorDetails, prefix: str | None) -> FieldError:
    parts = [str(part) for part in detail["loc"]]
    message = detail["msg"]
    if detail["type"] == "value_error" and message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        # Model-level checks name their own field as "<path>: <reason>".
        if not parts and ": " in message:
            path, _, message = message.partition(": ")
            parts = path.split(".")
    if detail["type"] == "extra_forbidden":
        message = "unknown field: the envelope allows only its documented fields"
    if prefix:
        parts.insert(0, prefix)
    return FieldError(".".join(parts) or None, message)


def check_body_size(body: str, *, max_bytes: int = MAX_BODY_BYTES) -> None:
    """Raise :class:`MessageTooLargeError` when the body's UTF-8 encoding is over ``max_bytes``."""
    if len(body) * _UTF8_MAX_BYTES_PER_CHAR <= max_bytes:
        return  # cannot exceed the limit: skip encoding the body
    size = len(body.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise MessageTooLargeError.single(None, f"body is {size} bytes; the limit is {max_bytes} bytes")


def parse_message(
    body: str | bytes,
    *,
    registry: PayloadRegistry | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> EventEnvelope:
    """Parse and validate one message body (JSON text) against the envelope and the payload registry.

    Raises:
        MessageTooLargeError: the body is over ``max_bytes``.
        MalformedMessageError: the body is not a JSON object.
        InvalidMessageError: a field breaks the contract (the error names it).
        UnknownEventTypeError: the registry rejects events of unregistered types.
    """
    text = body.decode("utf-8", errors="surrogateescape") if isinstance(body, bytes) else body
    check_body_size(text, max_bytes=max_bytes)
    # The exact walk over every string only runs when the raw text hints at an unstorable character.
    context = None if _UNSTORABLE_IN_JSON.search(text) else {_SKIP_STORABLE_CHECK: True}
    try:
        envelope = EventEnvelope.model_validate_json(text, context=context)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    if registry is not None:
        registry.check(envelope)
    return envelope


def validate_event(
    event: EventEnvelope | dict[str, Any],
    *,
    registry: PayloadRegistry | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> EventEnvelope:
    """Validate one event given as Python data (producer side); checks the serialized size too.

    Raises the same errors as :func:`parse_message`.
    """
    if isinstance(event, EventEnvelope):
        envelope = event
    elif not isinstance(event, dict):
        raise MalformedMessageError.single(None, f"an event must be a JSON object, not {_json_kind(event)}")
    else:
        try:
            envelope = EventEnvelope.model_validate(event)
        except ValidationError as exc:
            raise _invalid(exc) from exc
    check_body_size(envelope.to_body(), max_bytes=max_bytes)
    if registry is not None:
        registry.check(envelope)
    return envelope


def _invalid(exc: ValidationError) -> InvalidMessageError:
    errors = field_errors(exc)
    kinds = {detail["type"] for detail in exc.errors(include_url=False, include_input=False)}
    if "json_invalid" in kinds:
        return MalformedMessageError.single(None, f"body is not valid JSON: {errors[0].reason}")
    if errors[0].field is None and kinds & {"model_type", "model_attributes_type"}:
        return MalformedMessageError.single(None, "body must be a JSON object")
    return InvalidMessageError(errors)


def _json_kind(value: object) -> str:
    kinds: dict[type, str] = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return kinds.get(type(value), type(value).__name__)
