"""Event ids derived from an ``Idempotency-Key`` (new ids come from :mod:`sluice_shared.ids`, shared with the CLI)."""

from __future__ import annotations

import uuid
from typing import Final

__all__ = ["IDEMPOTENCY_NAMESPACE", "event_id_for_key"]

# A fixed namespace: the same Idempotency-Key always yields the same event_id (UUIDv5, RFC 9562 section 5.5).
IDEMPOTENCY_NAMESPACE: Final = uuid.UUID("6f1c1b0e-5a8d-4e42-9a43-51c2d7a0f3b9")


def event_id_for_key(key: str) -> uuid.UUID:
    """The event id for an ``Idempotency-Key``: a client's retry with the same key gets the same id."""
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, key)
