from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from sluice_cli.generate import generate_events
from sluice_shared.catalog import default_registry
from sluice_shared.contract import validate_event
from sluice_shared.errors import InvalidMessageError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _is_valid(event: object) -> bool:
    try:
        validate_event(event, registry=default_registry())  # type: ignore[arg-type]
    except InvalidMessageError:
        return False
    return True


def test_valid_events_satisfy_the_contract_and_cover_the_catalog() -> None:
    events = list(generate_events(200, seed=1, now=NOW))

    assert all(_is_valid(event) for event in events)
    assert len({event["event_id"] for event in events}) == 200
    assert set(Counter(event["event_type"] for event in events)) == {
        "order.created",
        "order.cancelled",
        "payment.captured",
        "user.signed_up",
    }


def test_exact_counts_of_invalid_and_duplicate_events() -> None:
    events = list(generate_events(1000, invalid_ratio=0.1, duplicate_ratio=0.05, seed=7, now=NOW))

    invalid = [event for event in events if not _is_valid(event)]
    ids = Counter(json.dumps(event.get("event_id")) for event in events if _is_valid(event))
    assert len(events) == 1000
    assert len(invalid) == 100
    assert sum(count - 1 for count in ids.values()) == 50


def test_duplicates_repeat_an_earlier_event_exactly() -> None:
    events = list(generate_events(50, duplicate_ratio=0.2, seed=3, now=NOW))

    seen: dict[str, dict[str, object]] = {}
    repeats = 0
    for event in events:
        if event["event_id"] in seen:
            assert event == seen[event["event_id"]]
            repeats += 1
        seen[event["event_id"]] = event
    assert repeats == 10


def test_invalid_events_break_the_contract_in_every_documented_way() -> None:
    events = list(generate_events(100, invalid_ratio=0.1, seed=11, now=NOW))
    reasons: set[str] = set()
    for event in events:
        try:
            validate_event(event, registry=default_registry())
        except InvalidMessageError as exc:
            reasons.add(exc.reason)

    assert len(reasons) >= 5
    assert "Input should have timezone info" in reasons
    assert "unknown field: the envelope allows only its documented fields" in reasons
    assert any("NUL character" in reason for reason in reasons)


def test_events_are_json_serializable() -> None:
    events = list(generate_events(100, invalid_ratio=0.5, duplicate_ratio=0.1, seed=5, now=NOW))

    assert json.loads(json.dumps(events)) == events


def test_a_seed_makes_the_stream_reproducible() -> None:
    first = list(generate_events(20, invalid_ratio=0.2, seed=42, now=NOW))
    second = list(generate_events(20, invalid_ratio=0.2, seed=42, now=NOW))

    assert first == second


@pytest.mark.parametrize(
    ("invalid", "duplicate", "message"),
    [
        (1.5, 0.0, "invalid_ratio must be between 0 and 1, not 1.5"),
        (0.6, 0.6, "invalid_ratio + duplicate_ratio must not exceed 1"),
        (0.5, 0.5, "duplicates need at least one valid event to repeat: lower the ratios"),
    ],
)
def test_impossible_ratios_are_refused(invalid: float, duplicate: float, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        list(generate_events(10, invalid_ratio=invalid, duplicate_ratio=duplicate))


def test_cancellations_and_payments_name_an_order_created_validly_before_them() -> None:
    events = list(generate_events(500, invalid_ratio=0.1, duplicate_ratio=0.05, seed=11, now=NOW))
    created: set[str] = set()
    referring = 0
    registry = default_registry()

    for event in events:
        try:
            validate_event(event, registry=registry)
        except InvalidMessageError:
            continue
        payload = event["payload"]
        if event["event_type"] == "order.created":
            created.add(payload["order_id"])
        elif event["event_type"] in {"order.cancelled", "payment.captured"}:
            assert payload["order_id"] in created
            referring += 1

    assert referring > 100
