from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sluice_shared.dead_letter import (
    ERROR_CODE,
    ERROR_FIELD,
    PACKED_REASON,
    DeadLetterReason,
    strip_reason,
)
from sluice_shared.errors import ConstraintViolationError, InvalidMessageError

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

WHEN = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ARN = "arn:aws:sqs:us-east-1:123456789012:events"


def _attrs(count: int) -> dict[str, MessageAttributeValueTypeDef]:
    return {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(count)}


def test_reason_is_attached_beside_the_original_attributes_and_read_back() -> None:
    reason = DeadLetterReason.from_error(InvalidMessageError.single("payload.sku", "bad"), source_queue=ARN, now=WHEN)

    attributes = reason.attach(_attrs(2))

    assert attributes is not None
    assert attributes["a0"] == {"DataType": "String", "StringValue": "0"}
    assert attributes[ERROR_CODE]["StringValue"] == "invalid_message"
    assert attributes[ERROR_FIELD]["StringValue"] == "payload.sku"
    assert DeadLetterReason.from_attributes(attributes) == reason


def test_reason_is_packed_into_one_attribute_when_slots_are_short() -> None:
    reason = DeadLetterReason.from_error(ConstraintViolationError("check failed"), source_queue=ARN, now=WHEN)

    attributes = reason.attach(_attrs(8))

    assert attributes is not None
    assert len(attributes) == 9
    assert PACKED_REASON in attributes
    assert DeadLetterReason.from_attributes(attributes) == reason


def test_no_slot_left_means_the_reason_cannot_be_attached() -> None:
    reason = DeadLetterReason.from_error(ConstraintViolationError("x"), source_queue=None, now=WHEN)

    assert reason.attach(_attrs(10)) is None


def test_strip_removes_only_sluice_reason_attributes() -> None:
    reason = DeadLetterReason.from_error(ConstraintViolationError("x"), source_queue=ARN, now=WHEN)
    attributes = reason.attach(_attrs(3))
    assert attributes is not None

    assert strip_reason(attributes) == _attrs(3)


def test_reason_reads_from_lambda_shaped_attributes() -> None:
    lambda_attrs = {ERROR_CODE: {"stringValue": "too_large", "dataType": "String"}}

    reason = DeadLetterReason.from_attributes(lambda_attrs)

    assert reason is not None
    assert reason.error_code == "too_large"


def test_attributes_without_a_reason_read_as_none() -> None:
    assert DeadLetterReason.from_attributes(_attrs(2)) is None


def test_a_refused_row_carries_its_constraint_in_both_attribute_layouts() -> None:
    error = ConstraintViolationError("refused", sqlstate="23514", constraint="orders_total_not_negative")
    reason = DeadLetterReason.from_error(error, source_queue=None, now=datetime(2026, 12, 1, tzinfo=UTC))
    roomy: dict[str, MessageAttributeValueTypeDef] = {}
    crowded: dict[str, MessageAttributeValueTypeDef] = {
        f"a{index}": {"DataType": "String", "StringValue": "x"} for index in range(8)
    }

    for original in (roomy, crowded):
        attached = reason.attach(original)
        assert attached is not None
        read = DeadLetterReason.from_attributes(attached)
        assert read is not None
        assert (read.error_code, read.constraint) == ("constraint_violation", "orders_total_not_negative")
