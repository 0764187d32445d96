"""The content digest tells an exact redelivery from other content without reading the stored row."""

from __future__ import annotations

import json

import pytest
from pydantic_core import to_json

from sluice_consumer.rows import CONTENT_DIGEST_BYTES, content_digest
from sluice_shared.contract import parse_message
from tests.support.factories import event_dict

_EVENT = event_dict(occurred_at="2026-12-05T10:00:00.123456+00:00", payload={"order_id": "o-1", "total": 12.5})


def _digest(**changes: object) -> bytes:
    """The digest of ``_EVENT`` with ``changes``, parsed from its body as the consumer parses a message."""
    envelope = parse_message(json.dumps({**_EVENT, **changes}))
    return content_digest(envelope, to_json(envelope.payload))


def test_every_delivery_of_one_body_has_the_same_digest() -> None:
    assert _digest() == _digest()
    assert len(_digest()) == CONTENT_DIGEST_BYTES


def test_another_offset_for_the_same_instant_has_the_same_digest() -> None:
    # timestamptz stores the instant only: both spellings store the same row
    assert _digest(occurred_at="2026-12-05T12:00:00.123456+02:00") == _digest()


@pytest.mark.parametrize(
    "changes",
    [
        {"event_type": "order.refunded"},
        {"source": "another-service"},
        {"occurred_at": "2026-12-05T10:00:00.123457+00:00"},
        {"schema_version": 2},
        {"payload": {"order_id": "o-1", "total": 12.51}},
    ],
    ids=["event_type", "source", "occurred_at", "schema_version", "payload"],
)
def test_any_changed_field_changes_the_digest(changes: dict[str, object]) -> None:
    assert _digest(**changes) != _digest()


def test_a_field_cannot_borrow_characters_from_its_neighbour() -> None:
    # every field follows a NUL byte, which none of them may contain
    assert _digest(event_type="order.created", source="ab") != _digest(event_type="order.createda", source="b")
