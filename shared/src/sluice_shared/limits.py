"""AWS's limits that Sluice's code, the CLI, the local emulator and the CDK stack all respect, defined once.

Each figure names the AWS document that states it. Sluice's own choices (headroom, defaults, guidance such as
the visibility timeout factor) live with the code that makes them, not here.

SQS figures are from the Amazon SQS Developer Guide, "Amazon SQS message quotas" and "Amazon SQS queue quotas",
and the SQS API Reference for the named action. Lambda figures are from the Lambda Developer Guide, "Lambda
quotas", and for the event source "Using Lambda with Amazon SQS" and the ``CreateEventSourceMapping`` API.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "LAMBDA_MAX_TIMEOUT_SECONDS",
    "LAMBDA_SYNC_PAYLOAD_BYTES",
    "SQS_FIFO_SUFFIX",
    "SQS_MAX_BATCHING_WINDOW_SECONDS",
    "SQS_MAX_BATCH_BYTES",
    "SQS_MAX_BATCH_ENTRIES",
    "SQS_MAX_BATCH_SIZE_FIFO",
    "SQS_MAX_BATCH_SIZE_STANDARD",
    "SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW",
    "SQS_MAX_MESSAGE_ATTRIBUTES",
    "SQS_MAX_MESSAGE_BYTES",
    "SQS_MAX_RECEIVE_MESSAGES",
    "SQS_MAX_RETENTION_SECONDS",
    "SQS_MAX_VISIBILITY_TIMEOUT_SECONDS",
    "SQS_MAX_WAIT_SECONDS",
    "SQS_MIN_RETENTION_SECONDS",
]

# --- Amazon SQS ---
# Message size: 1 MiB, counting the body and its message attributes (message quotas; raised from 256 KiB in
# August 2025, "Amazon SQS increases maximum message payload size to 1 MiB").
SQS_MAX_MESSAGE_BYTES: Final = 1_048_576
# SendMessageBatch: the sum of all entries' sizes is at most 1 MiB, like one message (SendMessageBatch, API Reference).
SQS_MAX_BATCH_BYTES: Final = 1_048_576
# SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch: at most 10 entries a request (message quotas,
# "Batched message ID").
SQS_MAX_BATCH_ENTRIES: Final = 10
# ReceiveMessage MaxNumberOfMessages: 1..10 (ReceiveMessage, API Reference).
SQS_MAX_RECEIVE_MESSAGES: Final = 10
# ReceiveMessage WaitTimeSeconds: 0..20, long polling (message quotas, "Long polling wait time maximum").
SQS_MAX_WAIT_SECONDS: Final = 20
# VisibilityTimeout: 0 s..12 hours, 43,200 s (message quotas, "Message visibility timeout").
SQS_MAX_VISIBILITY_TIMEOUT_SECONDS: Final = 12 * 3600
# MessageRetentionPeriod: 60 s..14 days (message quotas, "Message retention").
SQS_MIN_RETENTION_SECONDS: Final = 60
SQS_MAX_RETENTION_SECONDS: Final = 14 * 24 * 3600
# A message carries at most 10 message attributes (message quotas, "Message attributes").
SQS_MAX_MESSAGE_ATTRIBUTES: Final = 10
# A FIFO queue's name must end in ".fifo" (queue quotas, "Queue name").
SQS_FIFO_SUFFIX: Final = ".fifo"

# --- AWS Lambda ---
# Invocation payload: 6 MB for a synchronous invocation's request and its response, which is also the most a
# function URL accepts and the most an SQS event source puts in one batch (Lambda quotas, "Invocation payload").
LAMBDA_SYNC_PAYLOAD_BYTES: Final = 6 * 1024 * 1024
# Function timeout: 900 s, 15 minutes (Lambda quotas, "Function timeout").
LAMBDA_MAX_TIMEOUT_SECONDS: Final = 900

# --- Lambda's SQS event source (CreateEventSourceMapping BatchSize and MaximumBatchingWindowInSeconds) ---
SQS_MAX_BATCH_SIZE_STANDARD: Final = 10_000  # standard queues, with a batching window of at least 1 s
SQS_MAX_BATCH_SIZE_FIFO: Final = 10  # FIFO queues
SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW: Final = 10  # standard queues without a batching window
SQS_MAX_BATCHING_WINDOW_SECONDS: Final = 300  # 5 minutes
