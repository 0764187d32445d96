from __future__ import annotations

import json
import uuid

import pytest

from sluice_shared.catalog import default_registry
from sluice_shared.contract import MAX_BODY_BYTES, EventEnvelope, parse_message, validate_event
from sluice_shared.errors import InvalidMessageError, MalformedMessageError, MessageTooLargeError
from sluice_shared.registry import contract_json_schema
from tests.support.factories import event_body, event_dict


def _rejection(body: str) -> InvalidMessageError:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(body, registry=default_registry())
    return caught.value


def test_valid_body_parses_into_an_envelope_with_typed_fields() -> None:
    event = event_dict()

    envelope = parse_message(json.dumps(event), registry=default_registry())

    assert envelope.event_id == uuid.UUID(event["event_id"])
    assert envelope.event_type == "order.cancelled"
    assert envelope.occurred_at.utcoffset() is not None
    assert envelope.payload == event["payload"]


def test_serialized_envelope_parses_back_to_an_equal_envelope() -> None:
    envelope = parse_message(event_body())

    assert parse_message(envelope.to_body()) == envelope


@pytest.mark.parametrize(
    ("overrides", "field", "reason_part"),
    [
        ({"occurred_at": "2026-11-26T12:00:00"}, "occurred_at", "timezone"),
        ({"occurred_at": 1764158400}, "occurred_at", "not a number"),
        ({"surprise": True}, "surprise", "unknown field"),
        ({"event_type": "OrderCreated"}, "event_type", "pattern"),
        ({"event_type": "order"}, "event_type", "pattern"),
        ({"event_id": "not-a-uuid"}, "event_id", "UUID"),
        ({"schema_version": "1"}, "schema_version", "integer"),
        ({"schema_version": 0}, "schema_version", "greater than or equal to 1"),
        ({"source": ""}, "source", "at least 1"),
        ({"payload": [1, 2]}, "payload", "object"),
        ({"payload": "text"}, "payload", "object"),
    ],
)
def test_envelope_violation_is_rejected_naming_the_field(
    overrides: dict[str, object], field: str, reason_part: str
) -> None:
    error = _rejection(event_body(**overrides))

    assert error.field == field
    assert reason_part in error.reason


def test_missing_fields_are_all_reported() -> None:
    error = _rejection(json.dumps({"event_type": "order.cancelled"}))

    assert {e.field for e in error.errors} == {"event_id", "source", "occurred_at", "payload"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"order_id": "o-1", "reason": "a\u0000b"}, "payload.reason"),
        ({"order_id": "o-1", "reason": "ok", "notes": [{"x": "y"}, {"z": "\u0000"}]}, "payload.notes.1.z"),
        ({"order_id": "o-1", "reason": "ok", "nested": {"k\u0000": 1}}, "payload.nested"),
    ],
)
def test_nul_character_anywhere_in_the_payload_is_rejected_naming_its_path(
    payload: dict[str, object], field: str
) -> None:
    error = _rejection(event_body(payload=payload))

    assert error.field == field
    assert "NUL" in error.reason


def test_escaped_backslash_before_u0000_is_ordinary_text_and_accepted() -> None:
    envelope = parse_message(event_body(payload={"order_id": "o-1", "reason": "\\u0000 is how JSON writes NUL"}))

    assert envelope.payload["reason"] == "\\u0000 is how JSON writes NUL"


def test_nul_in_python_data_is_rejected_on_the_producer_side_too() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        validate_event(event_dict(payload={"order_id": "o-1", "reason": "\x00"}))

    assert caught.value.field == "payload.reason"


@pytest.mark.parametrize("body", ["not json", "{", "[1, 2]", '"text"', "null", ""])
def test_body_that_is_not_a_json_object_is_malformed(body: str) -> None:
    with pytest.raises(MalformedMessageError) as caught:
        parse_message(body)

    assert caught.value.field is None
    assert caught.value.code == "malformed_json"


def test_body_over_the_limit_is_rejected_before_parsing() -> None:
    body = event_body(payload={"order_id": "o-1", "reason": "x", "blob": "a" * MAX_BODY_BYTES})

    with pytest.raises(MessageTooLargeError) as caught:
        parse_message(body)

    assert f"limit is {MAX_BODY_BYTES} bytes" in caught.value.reason


def test_size_limit_counts_utf8_bytes_not_characters() -> None:
    # 300 three-byte characters: 300 characters but 900 bytes.
    body = event_body(payload={"order_id": "o-1", "reason": "\u20ac" * 300})

    with pytest.raises(MessageTooLargeError):
        parse_message(body, max_bytes=800)
    assert parse_message(body, max_bytes=2000).payload["reason"] == "\u20ac" * 300


def test_registered_payload_model_rejects_a_bad_payload_with_a_payload_path() -> None:
    error = _rejection(event_body(payload={"order_id": 5, "reason": "x"}))

    assert error.field == "payload.order_id"


def test_validate_event_rejects_non_objects_with_a_clear_reason() -> None:
    with pytest.raises(MalformedMessageError, match="not an array"):
        validate_event([1, 2])  # type: ignore[arg-type]


def test_json_schema_describes_the_envelope_and_each_registered_payload() -> None:
    schema = contract_json_schema(default_registry())

    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"event_id", "event_type", "source", "occurred_at", "payload"}
    assert {entry["event_type"] for entry in schema["x-sluice-payloads"]} == {
        "order.created",
        "order.cancelled",
        "payment.captured",
        "user.signed_up",
    }
    assert "order_created__OrderLine" in schema["$defs"]
    json.dumps(schema)  # serializable as-is


def test_envelope_is_immutable() -> None:
    envelope = parse_message(event_body())

    with pytest.raises(ValueError, match="frozen"):
        envelope.source = "other"  # type: ignore[misc]
    assert isinstance(envelope, EventEnvelope)


@pytest.mark.parametrize("text", ["+10000-01-01T00:00:00+00:00", "10000-01-01T00:00:00Z", "-0001-12-31T00:00:00Z"])
def test_expanded_year_outside_1_to_9999_is_out_of_range_not_malformed(text: str) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(event_body(occurred_at=text))

    assert (caught.value.field, caught.value.reason) == (
        "occurred_at",
        "is out of range once converted to UTC (years 1 to 9999)",
    )


def test_signed_year_within_range_is_still_not_iso_8601_as_sluice_takes_it() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(event_body(occurred_at="+2026-01-01T00:00:00Z"))

    assert caught.value.reason.startswith("must be an ISO 8601 timestamp with a timezone")
