"""The wire contract: the versioned event envelope every Sluice message carries.

Producers (the ingest function, ``sluice push``, other languages through the exported JSON Schema) and the
consumer validate against the same model, so a message accepted at the door is accepted at the database.
The envelope is deliberately separate from the ``events`` table row and from any payload model: the
consumer maps it explicitly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Protocol
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
from pydantic_core import to_json

from sluice_shared.errors import FieldError, InvalidMessageError, MalformedMessageError, MessageTooLargeError
from sluice_shared.json_safety import (
    ESCAPED_NUL,
    ESCAPED_QUOTE,
    MAX_INT_DIGITS,
    MAX_NESTING_DEPTH,
    TOO_DEEP_REASON,
    find_duplicate_key,
    find_unstorable,
    locate_unstorable,
)
from sluice_shared.limits import SQS_MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

__all__ = [
    "ATTRIBUTE_HEADROOM_BYTES",
    "EVENT_TYPE_PATTERN",
    "MAX_BODY_BYTES",
    "MAX_INT_DIGITS",
    "MAX_NESTING_DEPTH",
    "EventEnvelope",
    "PayloadCheck",
    "check_body_size",
    "field_errors",
    "parse_message",
    "validate_event",
]

# SQS counts the body *and* its message attributes against its message size limit (SQS_MAX_MESSAGE_BYTES,
# 1 MiB). A dead-lettered message gets Sluice's error attributes added, so the body limit keeps 16 KiB of
# headroom: a message valid at the door always fits in the DLQ.
ATTRIBUTE_HEADROOM_BYTES: Final = 16_384
MAX_BODY_BYTES: Final = SQS_MAX_MESSAGE_BYTES - ATTRIBUTE_HEADROOM_BYTES

# Short dotted names such as ``order.created``: lower-case segments, at least two of them.
EVENT_TYPE_PATTERN: Final = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
EVENT_TYPE_MAX_LENGTH: Final = 128
SOURCE_MAX_LENGTH: Final = 256
SCHEMA_VERSION_MAX: Final = 10_000

_SKIP_STORABLE_CHECK: Final = "sluice_skip_storable_check"
_SKIP_STORABLE_CONTEXT: Final = {_SKIP_STORABLE_CHECK: True}
# Every character of a str is at most 4 UTF-8 bytes: bodies this short can skip encoding.
_UTF8_MAX_BYTES_PER_CHAR: Final = 4
# The envelope fields whose JSON value must be a string for validation to pass (event_id, event_type, source,
# occurred_at): with the keys, they give the number of quote characters the envelope itself accounts for.
_STRING_VALUED_FIELDS: Final = 4
# ISO 8601 starts with a four-digit year; pydantic would otherwise read a string of digits as Unix time.
_ISO_DATE_START: Final = re.compile(r"\d{4}-")
# ISO 8601's expanded years (a sign, or more than four digits: +10000-01-01, -0001-01-01) are well-formed
# timestamps outside what datetime and PostgreSQL's timestamptz round trip hold once in UTC.
_EXPANDED_YEAR: Final = re.compile(r"([+-]\d{4,}|\d{5,})-\d{2}-\d{2}")
_OUT_OF_UTC_RANGE_REASON: Final = "is out of range once converted to UTC (years 1 to 9999)"
# Only timestamps in these years can leave datetime's range (years 1 to 9999) once shifted to UTC.
_MAX_YEAR: Final = 9999
_EDGE_YEARS: Final = frozenset({1, _MAX_YEAR})


class PayloadCheck(Protocol):
    """Validates an envelope's payload (a :class:`~sluice_shared.registry.PayloadRegistry` is one)."""

    def check(self, envelope: EventEnvelope) -> None:
        """Return when the payload is acceptable; raise an :class:`InvalidMessageError` otherwise."""
        ...


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
        # Pydantic would read a number, or a string of digits, as Unix time (seconds or milliseconds, guessed):
        # ambiguous on the wire.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError("must be an ISO 8601 timestamp with a timezone, not a number")  # noqa: TRY004
        if isinstance(value, str) and _ISO_DATE_START.match(value) is None:
            expanded = _EXPANDED_YEAR.match(value)
            if expanded is not None and not 1 <= int(expanded.group(1)) <= _MAX_YEAR:
                raise ValueError(_OUT_OF_UTC_RANGE_REASON)
            raise ValueError("must be an ISO 8601 timestamp with a timezone, such as 2026-11-26T12:00:00Z")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _timestamp_must_convert_to_utc(cls, value: datetime) -> datetime:
        # 0001-01-01T00:00:00+01:00 is year 0 in UTC: PostgreSQL stores it, but it cannot be read back.
        if value.year in _EDGE_YEARS:
            try:
                value.astimezone(UTC)
            except OverflowError as exc:
                raise ValueError(_OUT_OF_UTC_RANGE_REASON) from exc
        return value

    @model_validator(mode="after")
    def _values_must_be_storable(self, info: ValidationInfo) -> EventEnvelope:
        if info.context and info.context.get(_SKIP_STORABLE_CHECK):
            return self
        problem = find_unstorable(self.payload, "payload", depth=2)
        if problem is not None:
            # Raised as ValueError so pydantic reports it like any other field error.
            raise ValueError(f"{problem.field}: {problem.reason}")
        return self

    def to_body(self) -> str:
        """Serialize to the JSON text sent as the SQS message body."""
        return self.model_dump_json()


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
    if detail["type"] in {"recursion_depth_exceeded", "recursion_loop"}:
        # Pydantic's own depth guard fired on Python data; its path repeats a union tag at every level.
        parts, message = parts[:1], TOO_DEEP_REASON
    if prefix:
        parts.insert(0, prefix)
    return FieldError(".".join(parts) or None, message)


def check_body_size(body: str, *, max_bytes: int = MAX_BODY_BYTES) -> None:
    """Raise :class:`MessageTooLargeError` when the body's UTF-8 encoding is over ``max_bytes``."""
    if len(body) * _UTF8_MAX_BYTES_PER_CHAR <= max_bytes:
        return  # cannot exceed the limit: skip encoding the body
    _check_size(len(body.encode("utf-8", errors="surrogatepass")), max_bytes)


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise MessageTooLargeError.single(None, f"body is {size} bytes; the limit is {max_bytes} bytes")


def parse_message(
    body: str | bytes,
    *,
    registry: PayloadCheck | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> EventEnvelope:
    """Parse and validate one message body (JSON text) against the envelope and the payload registry.

    Besides the envelope's rules, a body is refused when parsing it could store something other than what
    its producer wrote: a key repeated in one object, a number that overflows a double, bytes that are not
    UTF-8, or text PostgreSQL cannot hold (NUL, lone surrogates).

    Raises:
        MessageTooLargeError: the body is over ``max_bytes``.
        MalformedMessageError: the body is not a JSON object.
        InvalidMessageError: a field breaks the contract (the error names it).
        UnknownEventTypeError: the registry rejects events of unregistered types.
    """
    if isinstance(body, bytes):
        _check_size(len(body), max_bytes)
        text = _decode_utf8(body)
    else:
        text = body
        check_body_size(text, max_bytes=max_bytes)
    context = None if ESCAPED_NUL in text else _SKIP_STORABLE_CONTEXT
    try:
        envelope = EventEnvelope.model_validate_json(text, context=context)
    except ValidationError as exc:
        raise _invalid(exc, text) from exc
    problem = _find_unfaithful(text, envelope)
    if problem is not None:
        raise InvalidMessageError((problem,))
    if registry is not None:
        registry.check(envelope)
    return envelope


def validate_event(
    event: EventEnvelope | dict[str, Any],
    *,
    registry: PayloadCheck | None = None,
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


def _decode_utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {body[exc.start]:#04x} at offset {exc.start}"
        # Name the field holding the bad bytes when the rest of the body is JSON.
        located = locate_unstorable(body.decode("utf-8", errors="surrogateescape"))
        if located is None:
            raise MalformedMessageError.single(None, f"body is not valid UTF-8 ({where})") from exc
        raise InvalidMessageError.single(located.field, f"contains bytes that are not valid UTF-8 ({where})") from exc


def _find_unfaithful(text: str, envelope: EventEnvelope) -> FieldError | None:
    """Find what the parsed envelope lost from the text: a duplicate key's first value, or a number's value.

    Cheap test first (a few microseconds): without duplicate keys, the text holds exactly the quote characters
    of the envelope's keys and string values plus those of the payload serialized back, as both spell every
    quote inside a string as an escaped quote. A duplicate key only adds quotes to the text, so equal counts
    prove there is none, unless the text spells a quote as ``\\u0022`` (then the exact check runs). Unequal
    counts (a quote in ``source``, say) only cost the exact check. Non-finite floats serialize as the bare words
    NaN and Infinity.
    """
    payload_json = to_json(envelope.payload, inf_nan_mode="constants")
    expected_quotes = 2 * (len(envelope.model_fields_set) + _STRING_VALUED_FIELDS) + payload_json.count(b'"')
    if text.count('"') != expected_quotes or ESCAPED_QUOTE in text:
        duplicate = find_duplicate_key(text)
        if duplicate is not None:
            return duplicate
    if b"NaN" in payload_json or b"Infinity" in payload_json:
        return find_unstorable(envelope.payload, "payload", depth=2)
    return None


def _invalid(exc: ValidationError, text: str | None = None) -> InvalidMessageError:
    errors = field_errors(exc)
    kinds = {detail["type"] for detail in exc.errors(include_url=False, include_input=False)}
    if text is not None and kinds & {"json_invalid", "string_unicode"}:
        located = locate_unstorable(text)
        if located is not None:
            return InvalidMessageError((located,))
    if "json_invalid" in kinds:
        return MalformedMessageError.single(None, f"body is not valid JSON: {errors[0].reason}")
    if "string_unicode" in kinds:
        return MalformedMessageError.single(None, "body is not valid Unicode text")
    if errors[0].field is None and kinds & {"model_type", "model_attributes_type"}:
        return MalformedMessageError.single(None, "body must be a JSON object")
    return InvalidMessageError(errors)


def _json_kind(value: object) -> str:
    kinds: dict[type, str] = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return kinds.get(type(value), type(value).__name__)
