"""What the write-path benchmark feeds the consumer handler, and the minimal reference it is compared with.

- :func:`sqs_event`: a Lambda SQS event (AWS's sample shape) of fresh envelopes with a tiny or realistic payload.
- :class:`BenchContext`: the context Lambda passes, with a deadline (``get_remaining_time_in_millis``).
- :func:`reference_writer`: the plainest code that does the handler's essential work: parse each body, validate
  the envelope and its payload with the same Pydantic models, and write the rows with one binary ``COPY`` on a
  connection that stays open. No pool, no health check, no idempotency, no logs, no metrics.
- :func:`models_only`: the sample catalog's payload models without its table sinks (a registry for the handler).
- :func:`stdout_discarded`: file descriptor 1 sent to ``/dev/null`` while the handler runs, so its log line and
  EMF metrics are written (as on Lambda) without flooding the terminal.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from psycopg.types.json import Jsonb

from sluice_shared.catalog import default_registry
from sluice_shared.contract import EventEnvelope
from tests.support.events_table import COPY_EVENTS_BINARY_WITHOUT_DIGEST, EVENT_DATA_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import psycopg

    from sluice_shared.registry import PayloadRegistry

__all__ = [
    "PAYLOADS",
    "BenchContext",
    "models_only",
    "reference_writer",
    "sqs_event",
    "stdout_discarded",
]

# A realistic payload: an order with a nested customer, address and two lines, 300 to 400 bytes of JSON.
_REALISTIC: Final[dict[str, Any]] = {
    "order_id": "o-20261205-000123",
    "customer_id": "c-98765",
    "currency": "EUR",
    "total_cents": 18_440,  # 2 x 6,172 + 6,096
    "customer": {"email": "ada@example.com", "tier": "gold"},
    "shipping": {"street": "12 Rue de la Paix", "city": "Paris", "country": "FR"},
    "lines": [
        {"sku": "sku-1", "quantity": 2, "unit_price_cents": 6_172},
        {"sku": "sku-22", "quantity": 1, "unit_price_cents": 6_096},
    ],
}
# (event type, payload): the tiny one's type has no payload model, the realistic one is a valid order.created.
PAYLOADS: Final[dict[str, tuple[str, dict[str, Any]]]] = {
    "tiny": ("bench.tiny", {"n": 1}),
    "realistic": ("order.created", _REALISTIC),
}


def models_only() -> PayloadRegistry:
    """The sample catalog's models, no table sinks: the handler does what the reference does, nothing more."""
    return default_registry(sinks=False)


def sqs_event(count: int, payload: str) -> dict[str, Any]:
    """An SQS event of ``count`` fresh envelopes carrying the ``payload`` named in :data:`PAYLOADS`."""
    event_type, data = PAYLOADS[payload]
    records = []
    for index in range(count):
        body = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": event_type,
                "source": "bench",
                "occurred_at": "2026-12-05T12:00:00+00:00",
                "schema_version": 1,
                "payload": data,
            }
        )
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"r{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764936000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


@dataclass(slots=True)
class BenchContext:
    """The attributes of Lambda's context object that Powertools and the handler read, and its deadline."""

    timeout_s: float = 30.0
    function_name: str = "sluice-consumer-bench"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sluice-consumer-bench"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/sluice-consumer-bench"
    log_stream_name: str = "bench"
    _deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def reference_writer(conn: psycopg.Connection[Any], registry: PayloadRegistry) -> Callable[[dict[str, Any]], None]:
    """The minimal reference: parse, validate (same models), one binary ``COPY`` on an open connection."""

    def write(event: dict[str, Any]) -> None:
        rows = []
        for record in event["Records"]:
            envelope = EventEnvelope.model_validate(json.loads(record["body"]))
            registry.validate(envelope)
            rows.append(
                (
                    envelope.event_id,
                    envelope.event_type,
                    envelope.source,
                    envelope.occurred_at,
                    envelope.schema_version,
                    Jsonb(envelope.payload),
                    record["messageId"],
                    int(record["attributes"]["ApproximateReceiveCount"]),
                )
            )
        with conn.cursor() as cursor, cursor.copy(COPY_EVENTS_BINARY_WITHOUT_DIGEST) as copy:
            copy.set_types([column.type for column in EVENT_DATA_COLUMNS])
            for row in rows:
                copy.write_row(row)

    return write


@contextmanager
def stdout_discarded() -> Iterator[None]:
    """Point file descriptor 1 at ``/dev/null`` (what was printed is flushed first, where it belongs)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
