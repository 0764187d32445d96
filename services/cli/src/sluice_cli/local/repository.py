"""The SQL the local pipeline's demo runs against the consumer's ``events`` table (read-only)."""

from __future__ import annotations

from typing import Final, LiteralString

__all__ = ["SELECT_STORED"]

# Which of the given event ids are stored, and when the consumer committed each.
SELECT_STORED: Final[LiteralString] = (
    "SELECT event_id::text, received_at FROM events WHERE event_id = ANY(%(event_ids)s::uuid[])"
)
