"""The Lambda SQS event as AWS builds it, and AWS's rules for reading a partial batch response.

Records follow the shape Lambda's SQS event source sends (string-valued ``attributes``, camelCase
``messageAttributes``, ``md5OfBody``, ``eventSource``, ``eventSourceARN``, ``awsRegion``). Responses are read
by the rules in "Handling errors for an SQS event source in Lambda" (Lambda developer guide, "Reporting
batch item failures"): a batch is a complete success when the response is null, ``{}``, or has a null or
empty ``batchItemFailures``; a complete failure when the response is not a valid JSON object or an
``itemIdentifier`` is empty, null, under a bad key name or not a message id of the batch; otherwise every
message except the listed ones succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sluice_shared.sqs import attributes_to_lambda

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = [
    "EVENT_SOURCE",
    "RECORD_ATTRIBUTES",
    "BatchVerdict",
    "lambda_event",
    "lambda_record",
    "settle_response",
]

EVENT_SOURCE: Final = "aws:sqs"
# The system attributes Lambda copies into each record (FIFO queues add the last three; X-Ray adds the trace).
RECORD_ATTRIBUTES: Final = (
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
)
_FAILURES_KEY: Final = "batchItemFailures"
_IDENTIFIER_KEY: Final = "itemIdentifier"


def lambda_record(message: MessageTypeDef, *, queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS API message (received with all system and message attributes) as a Lambda event record."""
    attributes: Mapping[str, str] = {str(name): value for name, value in message.get("Attributes", {}).items()}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {name: str(attributes[name]) for name in RECORD_ATTRIBUTES if name in attributes},
        "messageAttributes": attributes_to_lambda(message.get("MessageAttributes", {})),
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["md5OfBody"] = message.get("MD5OfBody", "")
    record["eventSource"] = EVENT_SOURCE
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record


def lambda_event(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The event one invocation receives: ``{"Records": [...]}``."""
    return {"Records": list(records)}


@dataclass(frozen=True, slots=True)
class BatchVerdict:
    """Which messages of a batch succeeded (to delete) and which failed (left for redelivery), and why."""

    succeeded: tuple[str, ...]
    failed: tuple[str, ...]
    batch_error: str | None = None

    @classmethod
    def whole_batch_failed(cls, message_ids: Sequence[str], reason: str) -> BatchVerdict:
        """Every message failed: nothing is deleted, everything is redelivered after the visibility timeout."""
        return cls(succeeded=(), failed=tuple(message_ids), batch_error=reason)


def settle_response(response: object, message_ids: Sequence[str]) -> BatchVerdict:
    """Apply AWS's partial batch response rules to what the function returned for ``message_ids``."""
    try:
        # Lambda serializes the return value as JSON: anything json cannot encode is a failed invocation.
        wire = json.loads(json.dumps(response))
    except (TypeError, ValueError) as exc:
        return BatchVerdict.whole_batch_failed(message_ids, f"response is not JSON serializable: {exc}")
    if wire is None:
        return BatchVerdict(succeeded=tuple(message_ids), failed=())
    if not isinstance(wire, dict):
        return BatchVerdict.whole_batch_failed(message_ids, f"invalid response: a JSON {type(wire).__name__}")
    failures = wire.get(_FAILURES_KEY)
    if failures is None:
        return BatchVerdict(succeeded=tuple(message_ids), failed=())
    if not isinstance(failures, list):
        return BatchVerdict.whole_batch_failed(message_ids, f"invalid response: {_FAILURES_KEY} is not a list")
    known = set(message_ids)
    failed: set[str] = set()
    for item in failures:
        problem = _item_problem(item, known)
        if problem is not None:
            return BatchVerdict.whole_batch_failed(message_ids, problem)
        failed.add(item[_IDENTIFIER_KEY])
    return BatchVerdict(
        succeeded=tuple(mid for mid in message_ids if mid not in failed),
        failed=tuple(mid for mid in message_ids if mid in failed),
    )


def _item_problem(item: object, known: set[str]) -> str | None:
    if not isinstance(item, dict):
        return f"malformed batch item failure: {item!r} is not an object"
    if _IDENTIFIER_KEY not in item:
        return f"batch item failure without {_IDENTIFIER_KEY!r} (keys: {sorted(item)})"
    identifier = item[_IDENTIFIER_KEY]
    if identifier is None:
        return f"null {_IDENTIFIER_KEY}"
    if not isinstance(identifier, str):
        return f"malformed {_IDENTIFIER_KEY}: {identifier!r} is not a string"
    if not identifier:
        return f"empty {_IDENTIFIER_KEY}"
    if identifier not in known:
        return f"{_IDENTIFIER_KEY} {identifier!r} is not a message of this batch"
    return None
