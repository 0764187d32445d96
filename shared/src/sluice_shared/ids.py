"""Event ids for events that arrive without one: the ingest function and ``sluice push`` assign them alike."""

from __future__ import annotations

import uuid
from typing import Any

import uuid6

__all__ = ["lacks_event_id", "new_event_id", "with_event_id"]


def new_event_id() -> uuid.UUID:
    """A new UUIDv7 (RFC 9562): time-ordered, so the consumer's primary key index grows at its right edge."""
    value: uuid.UUID = uuid6.uuid7()
    return uuid.UUID(int=value.int)


def lacks_event_id(event: Any) -> bool:
    """True for a JSON object whose ``event_id`` is absent or null: Sluice gives it one before validation.

    Anything else (an id of the wrong type, an event that is not an object) is left for validation to judge.
    """
    return isinstance(event, dict) and event.get("event_id") is None


def with_event_id(event: dict[str, Any], event_id: uuid.UUID | None = None) -> dict[str, Any]:
    """A copy of ``event`` with ``event_id`` first: the one given, else a new UUIDv7. ``event`` is not changed."""
    return {"event_id": str(event_id or new_event_id()), **{k: v for k, v in event.items() if k != "event_id"}}
