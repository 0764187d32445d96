"""Small factories for event bodies and SQS event records used across the tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any


def event_dict(**overrides: Any) -> dict[str, Any]:
    """A valid ``order.cancelled`` event as Python data; keyword arguments replace top-level fields."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "order.cancelled",
        "source": "tests",
        "occurred_at": datetime(2026, 11, 26, 12, 0, tzinfo=UTC).isoformat(),
        "schema_version": 1,
        "payload": {"order_id": "o-1", "reason": "customer request"},
    }
    event.update(overrides)
    return event


def event_body(**overrides: Any) -> str:
    """The JSON text of :func:`event_dict`."""
    return json.dumps(event_dict(**overrides), ensure_ascii=False)
