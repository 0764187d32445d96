"""The SQS dead-letter sink: original body and attributes kept, reason attached, FIFO ids, full slots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice_consumer.dead_letters import NoDeadLetterQueue, SqsDeadLetterSink
from sluice_consumer.logic import DeadLetter
from sluice_consumer.records import SqsBatch
from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.errors import InvalidMessageError, MessageRejectedError, QueueUnavailableError
from sluice_shared.sqs import SendOutcome
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sluice_shared.sqs import OutgoingMessage


class FakeSender:
    """Stands in for BatchSender (our own port): records messages, fails the keys in ``fail``."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.messages: list[OutgoingMessage] = []

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        self.messages.extend(messages)
        return [
            SendOutcome(m.key, error=QueueUnavailableError("down"))
            if m.key in self.fail
            else SendOutcome(m.key, message_id=f"dlq-{m.key}")
            for m in messages
        ]


def letters(event, error=None):
    error = error or InvalidMessageError.single("payload.sku", "field required")
    return [DeadLetter(record, error) for record in SqsBatch.from_event(event)]


def test_letter_keeps_body_and_attributes_and_carries_the_reason() -> None:
    sender = FakeSender()
    sink = SqsDeadLetterSink("https://sqs.us-east-2.amazonaws.com/1/dlq", sender=sender)
    event = sqs_event(["{bad"], attributes={"trace": {"dataType": "String", "stringValue": "t-1"}})

    unsent = sink.send(letters(event))

    assert unsent == {}
    [message] = sender.messages
    assert (message.key, message.body, message.group_id, message.deduplication_id) == ("m0", "{bad", None, None)
    assert message.attributes["trace"] == {"DataType": "String", "StringValue": "t-1"}
    reason = DeadLetterReason.from_attributes(message.attributes)
    assert reason is not None
    assert (reason.error_code, reason.error_field, reason.source_queue) == (
        "invalid_message",
        "payload.sku",
        "arn:aws:sqs:us-east-2:123456789012:my-queue",
    )


def test_fifo_dlq_gets_the_group_id_and_the_source_message_id_for_deduplication() -> None:
    sender = FakeSender()
    sink = SqsDeadLetterSink("https://sqs.us-east-2.amazonaws.com/1/dlq.fifo", sender=sender)

    sink.send(letters(sqs_event(["x"], groups=["g-7"])))

    assert [(m.group_id, m.deduplication_id) for m in sender.messages] == [("g-7", "m0")]


def test_failed_send_is_reported_back_by_message_id() -> None:
    sender = FakeSender(fail={"m1"})
    sink = SqsDeadLetterSink("https://sqs/1/dlq", sender=sender)

    unsent = sink.send(letters(sqs_event(["a", "b"])))

    assert list(unsent) == ["m1"]
    assert isinstance(unsent["m1"], QueueUnavailableError)


def test_message_with_all_attribute_slots_taken_is_not_sent() -> None:
    sender = FakeSender()
    sink = SqsDeadLetterSink("https://sqs/1/dlq", sender=sender)
    full = {f"a{i}": {"dataType": "String", "stringValue": "v"} for i in range(10)}

    unsent = sink.send(letters(sqs_event(["x"], attributes=full)))

    assert sender.messages == []
    assert isinstance(unsent["m0"], MessageRejectedError)


def test_without_a_dlq_every_letter_is_reported_back() -> None:
    unsent = NoDeadLetterQueue().send(letters(sqs_event(["a", "b"])))

    assert sorted(unsent) == ["m0", "m1"]
    assert unsent["m0"].code == "configuration"
