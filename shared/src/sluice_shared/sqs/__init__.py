"""Sluice's one SQS adapter: messages, the batch sender, the send pipeline, and one queue's receiving side.

- :mod:`~sluice_shared.sqs.messages`: outgoing messages, outcomes, sizes as SQS counts them, attribute shapes.
- :mod:`~sluice_shared.sqs.sender`: :class:`BatchSender` (``SendMessageBatch`` chunked to SQS's limits, only
  failed entries retried), used by the ingest function, ``sluice push``, the consumer's dead-letter sink and
  ``sluice dlq replay``.
- :mod:`~sluice_shared.sqs.pipeline`: :class:`SendPipeline`, a stream of messages with several calls in flight,
  each FIFO message group kept in order (``sluice push``).
- :mod:`~sluice_shared.sqs.queue`: :class:`SqsQueue`, receive / change visibility / delete / purge / count, used
  by the local event source and ``sluice dlq``.

SQS's limits themselves are in :mod:`sluice_shared.limits`.
"""

from __future__ import annotations

from sluice_shared.sqs.messages import (
    Attributes,
    OutgoingMessage,
    SendOutcome,
    attributes_from_lambda,
    attributes_to_lambda,
    is_fifo_queue,
    message_size,
)
from sluice_shared.sqs.pipeline import SendPipeline
from sluice_shared.sqs.queue import QueueDepth, SqsQueue
from sluice_shared.sqs.sender import BatchSender, MessageSender, RetryPolicy

__all__ = [
    "Attributes",
    "BatchSender",
    "MessageSender",
    "OutgoingMessage",
    "QueueDepth",
    "RetryPolicy",
    "SendOutcome",
    "SendPipeline",
    "SqsQueue",
    "attributes_from_lambda",
    "attributes_to_lambda",
    "is_fifo_queue",
    "message_size",
]
