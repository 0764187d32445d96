"""Ids for events that come without one: the same rule at ingest and in ``sluice push``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sluice_shared.ids import lacks_event_id, new_event_id, with_event_id


@pytest.mark.parametrize(
    ("event", "lacks"),
    [
        ({"event_type": "x"}, True),
        ({"event_id": None, "event_type": "x"}, True),
        ({"event_id": "abc"}, False),
        ({"event_id": 7}, False),  # a wrong id is for validation to refuse, not to be replaced
        ([{"event_type": "x"}], False),
        ("not an event", False),
    ],
)
def test_only_an_object_without_an_id_lacks_one(event: Any, lacks: bool) -> None:
    assert lacks_event_id(event) is lacks


def test_new_ids_are_uuid7_and_time_ordered() -> None:
    ids = [new_event_id() for _ in range(50)]

    assert {i.version for i in ids} == {7}
    assert ids == sorted(ids)


def test_the_id_goes_first_and_the_event_is_not_changed() -> None:
    event: dict[str, Any] = {"event_type": "x", "event_id": None, "payload": {}}
    given = uuid.UUID("0190d6a4-0000-7000-8000-000000000001")

    assert list(with_event_id(event, given).items()) == [
        ("event_id", str(given)),
        ("event_type", "x"),
        ("payload", {}),
    ]
    assert event["event_id"] is None
