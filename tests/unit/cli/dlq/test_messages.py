from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sluice_cli.dlq.messages import MAX_RECEIVE_COUNT_EXCEEDED, UNREADABLE_REASON, DeadLetter
from sluice_shared.dead_letter import PACKED_REASON
from sluice_shared.errors import UnknownEventTypeError
from tests.unit.cli.dlq.fakes import NOW, dead_letter


def test_reads_ids_types_reason_and_age_from_a_received_message() -> None:
    message = DeadLetter.from_sqs(
        {
            "MessageId": "m-1",
            "ReceiptHandle": "h-1",
            "Body": '{"event_id": "e-1", "event_type": "order.created"}',
            "Attributes": {"SentTimestamp": "1795694400000", "ApproximateReceiveCount": "7", "MessageGroupId": "g"},
            "MessageAttributes": {"sluice.dlq.error_code": {"DataType": "String", "StringValue": "too_large"}},
        }
    )

    assert (message.message_id, message.receipt_handle, message.receive_count) == ("m-1", "h-1", 7)
    assert (message.event_id, message.event_type, message.group_id) == ("e-1", "order.created", "g")
    assert message.error_type == "too_large"
    assert message.sent_at == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert message.age(NOW + timedelta(minutes=5)) == timedelta(minutes=5)


def test_unknown_event_type_reason_is_its_error_type() -> None:
    assert dead_letter(error=UnknownEventTypeError.single("event_type", "no model")).error_type == "unknown_event_type"


def test_message_without_a_reason_was_moved_by_the_redrive_policy() -> None:
    assert dead_letter(reason=False).error_type == MAX_RECEIVE_COUNT_EXCEEDED


def test_message_with_an_unreadable_reason_is_unknown() -> None:
    broken = {PACKED_REASON: {"DataType": "String", "StringValue": "{not json"}}

    assert dead_letter(reason=False, attributes=broken).error_type == UNREADABLE_REASON


def test_body_that_is_not_an_event_has_no_ids() -> None:
    for body in ("not json", "[1, 2]", '{"event_id": 5}', "[" * 100_000):
        message = dead_letter(body=body)
        assert (message.event_id, message.event_type) == (None, None)


def test_excerpt_is_one_line_and_bounded() -> None:
    message = dead_letter(body='{\n  "a": "' + "x" * 500 + '"\n}')

    excerpt = message.excerpt(40)

    assert excerpt.startswith('{ "a": "xxx')
    assert len(excerpt) == 40
    assert "\n" not in excerpt
