"""Real AWS event samples stored as JSON files under ``tests/events/``, loaded by one helper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

EVENTS_DIR: Final = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """Load ``tests/events/<name>.json`` (a fresh copy each call, so tests may mutate it)."""
    data: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data
