"""From a validated envelope and its SQS record to the ``events`` row that records it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import TYPE_CHECKING, Final

from pydantic_core import to_json

from sluice_consumer.ports import EventRow

if TYPE_CHECKING:
    from sluice_consumer.records import SqsRecord
    from sluice_shared.contract import EventEnvelope

__all__ = ["CONTENT_DIGEST_BYTES", "content_digest", "event_row"]

# 128 bits: a chance collision between two contents of one event_id is not a practical concern.
CONTENT_DIGEST_BYTES: Final = 16
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def event_row(envelope: EventEnvelope, record: SqsRecord) -> EventRow:
    """Map a validated envelope and its SQS record to an ``events`` row."""
    # Serialised by pydantic-core (Rust); NaN/Infinity are written as such and the database refuses them,
    # which routes such a payload to the DLQ instead of silently altering it.
    payload = to_json(envelope.payload)
    return EventRow(
        envelope.event_id,
        envelope.event_type,
        envelope.source,
        envelope.occurred_at,
        envelope.schema_version,
        payload.decode(),
        record.message_id,
        record.receive_count,
        content_digest(envelope, payload),
    )


def content_digest(envelope: EventEnvelope, payload_json: bytes) -> bytes:
    """SHA-256 (first 16 bytes) of the payload JSON and the envelope fields, as stored in ``content_digest``.

    Two deliveries of the same body always give the same digest (the payload is serialized the same way), so an
    exact redelivery is recognised without reading the stored payload. Different digests are not yet a
    conflict: the store confirms field by field in PostgreSQL (jsonb equality, so key order and whitespace never
    count as a difference). A row whose digest was computed another way (an earlier release wrote the timestamp
    as ISO text) therefore only costs that comparison, never a false conflict.

    The fields follow the payload, each after a NUL byte: JSON text never holds a raw NUL and neither do the
    event type or the source (the contract refuses control characters), so no two contents share an input. The
    instant is written as integer microseconds since the epoch, the same for any offset that names it, and a
    third of ``isoformat()``'s cost. SHA-256 rather than BLAKE2b: with the CPU's SHA extensions it is the
    fastest digest ``hashlib`` offers on these machines. The whole digest costs ~1 us a row (0.9 for a 7-byte
    payload, 1.0 for 335 bytes, against 1.5 and 1.6 with ``isoformat()``; December 2026, Python 3.11).
    """
    micros = (envelope.occurred_at - _EPOCH) // _MICROSECOND
    fields = f"\x00{envelope.event_type}\x00{envelope.source}\x00{micros}\x00{envelope.schema_version}"
    return sha256(payload_json + fields.encode()).digest()[:CONTENT_DIGEST_BYTES]
