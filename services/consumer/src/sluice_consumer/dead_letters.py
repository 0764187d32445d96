"""The consumer's dead-letter sink: permanent failures go to the DLQ with the reason attached.

Each message is re-sent with its original body and message attributes plus Sluice's ``sluice.dlq.*``
reason attributes (see ``sluice_shared.dead_letter``). A FIFO DLQ gets the source message's group id and
the source SQS message id as deduplication id, so a repeated send within SQS's 5-minute deduplication
interval stores one copy. A message that cannot be sent (SQS refused it, the queue is unreachable, or its
10 attribute slots are all taken) is reported back: the consumer then reports it as a batch item failure
and SQS's own redrive policy moves it after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.errors import ConfigurationError, MessageRejectedError, SluiceError
from sluice_shared.limits import SQS_MAX_MESSAGE_ATTRIBUTES
from sluice_shared.sqs import BatchSender, OutgoingMessage, attributes_from_lambda, is_fifo_queue

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sluice_consumer.logic import DeadLetter
    from sluice_shared.sqs import SendOutcome

__all__ = ["MessageSender", "NoDeadLetterQueue", "SqsDeadLetterSink"]


class MessageSender(Protocol):
    """Sends messages to one queue, one outcome per message (:class:`~sluice_shared.sqs.BatchSender`)."""

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        """Send every message; never raises for a queue error."""
        ...


class SqsDeadLetterSink:
    """:class:`~sluice_consumer.logic.DeadLetterSink` sending to one SQS queue through :class:`BatchSender`."""

    def __init__(self, queue_url: str, *, sender: MessageSender | None = None) -> None:
        self.queue_url = queue_url
        self.fifo = is_fifo_queue(queue_url)
        # boto3 is imported by the sender's first send only: batches without dead letters never pay for it.
        self.sender: MessageSender = sender or BatchSender(queue_url)

    def send(self, letters: Sequence[DeadLetter]) -> dict[str, SluiceError]:
        """Send every letter; return the errors of those not sent, keyed by SQS message id."""
        unsent: dict[str, SluiceError] = {}
        messages: list[OutgoingMessage] = []
        for letter in letters:
            record = letter.record
            reason = DeadLetterReason.from_error(letter.error, source_queue=record.event_source_arn)
            attributes = reason.attach(attributes_from_lambda(record.message_attributes))
            if attributes is None:
                unsent[record.message_id] = MessageRejectedError(
                    f"all {SQS_MAX_MESSAGE_ATTRIBUTES} message attribute slots are taken: no room for the reason"
                )
                continue
            messages.append(
                OutgoingMessage(
                    key=record.message_id,
                    body=record.body,
                    attributes=attributes,
                    group_id=(record.group_id or record.message_id) if self.fifo else None,
                    deduplication_id=record.message_id if self.fifo else None,
                )
            )
        for outcome in self.sender.send(messages):
            if not outcome.ok:
                unsent[outcome.key] = outcome.error or MessageRejectedError("SQS did not accept the message")
        return unsent


class NoDeadLetterQueue:
    """The sink when no DLQ is configured: nothing is sent, every letter is reported back for SQS to retry."""

    def send(self, letters: Sequence[DeadLetter]) -> dict[str, SluiceError]:
        """Report every letter as not sent."""
        error = ConfigurationError("no dead-letter queue configured (SLUICE_DLQ_URL)")
        return {letter.record.message_id: error for letter in letters}
