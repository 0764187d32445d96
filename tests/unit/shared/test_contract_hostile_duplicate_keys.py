"""Duplicate keys against the message contract: a key repeated in one object, at any depth, is refused naming it.

Parsers disagree on which value of a repeated key wins, so guessing could store what the producer did not mean.
The writer and strategies are in :mod:`tests.support.hostile_json`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice_shared.contract import parse_message
from sluice_shared.errors import InvalidMessageError
from tests.support.factories import event_dict
from tests.support.hostile_json import HOSTILE, Obj, Raw, json_values, payloads, storable_text, write_body, write_json


@HOSTILE
@given(
    payload=payloads.filter(bool),
    data=st.data(),
    ascii_only=st.booleans(),
)
def test_a_duplicate_key_anywhere_is_rejected_naming_it(
    payload: dict[str, Any], data: st.DataObject, ascii_only: bool
) -> None:
    # given: a key repeated in the payload object, with a value that may be equal or not
    key = data.draw(st.sampled_from(sorted(payload)))
    again = data.draw(json_values)
    members = (*payload.items(), (key, again))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(write_body(Obj(members), ascii_only=ascii_only))

    assert caught.value.field == f"payload.{key}"
    assert "duplicate key" in caught.value.reason


@HOSTILE
@given(
    payload=payloads.map(lambda p: {k: v for k, v in p.items() if k != "nested"}),
    key=storable_text.filter(lambda k: "." not in k),
    depth=st.integers(1, 3),
)
def test_a_duplicate_key_in_a_nested_object_is_rejected_naming_it(
    payload: dict[str, Any], key: str, depth: int
) -> None:
    inner: Any = Obj(((key, 1), (key, 2)))
    for _ in range(depth - 1):
        inner = [inner]
    body = write_body(Obj((*payload.items(), ("nested", inner))))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(body)

    assert caught.value.field == ".".join(["payload", "nested", *["0"] * (depth - 1), key])


@pytest.mark.parametrize("field", ["event_id", "event_type", "source", "occurred_at", "schema_version", "payload"])
def test_a_duplicate_envelope_field_is_rejected_even_when_both_values_are_valid(field: str) -> None:
    event = event_dict()
    members = (*event.items(), (field, event[field]))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(write_json(Obj(members)))

    assert caught.value.field == field
    assert "duplicate key" in caught.value.reason


def test_keys_that_only_differ_in_how_they_are_escaped_are_duplicates() -> None:
    body = write_body(Raw('{"caf\\u00e9": 1, "café": 2}'))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(body)

    assert caught.value.field == "payload.café"


def test_quotes_spelled_as_unicode_escapes_do_not_hide_a_duplicate() -> None:
    # \u0022 is a quote the text does not show: the cheap quote count alone would be fooled.
    body = write_body(Raw('{"a": "\\u0022\\u0022", "b": 1, "b": 2}'))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(body)

    assert caught.value.field == "payload.b"
