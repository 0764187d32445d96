"""SQS events for consumer tests, shaped exactly like AWS's documented samples in ``tests/events/``."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.events import load_event

STANDARD_ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue"
FIFO_ARN = "arn:aws:sqs:us-east-2:123456789012:fifo.fifo"


def sqs_event(
    bodies: list[str],
    *,
    groups: list[str] | None = None,
    receive_count: int = 1,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An SQS event with one record per body (message ids ``m0``, ``m1``, ...), from AWS's sample record.

    With ``groups`` the event comes from a FIFO queue and record ``i`` belongs to group ``groups[i]``.
    """
    template = load_event("sqs_fifo" if groups is not None else "sqs_standard")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"m{index}"
        record["body"] = body
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        if groups is not None:
            record["attributes"]["MessageGroupId"] = groups[index]
            record["attributes"]["MessageDeduplicationId"] = f"d{index}"
        if attributes is not None:
            record["messageAttributes"] = copy.deepcopy(attributes)
        records.append(record)
    return {"Records": records}
