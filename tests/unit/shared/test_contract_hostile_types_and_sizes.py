"""Wrong types and sizes against the message contract: refused naming the field, or as too large.

A field of the wrong JSON type is refused naming it; the size limit counts UTF-8 bytes, a body of exactly the
limit is accepted and one byte more is refused. The writer and strategies are in :mod:`tests.support.hostile_json`.
"""

from __future__ import annotations

from typing import Any, Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice_shared.contract import MAX_BODY_BYTES, parse_message
from sluice_shared.errors import InvalidMessageError, MessageTooLargeError
from tests.support.hostile_json import HOSTILE, finite_floats, write_body

WRONG_TYPES: Final = {
    "event_id": st.none() | st.booleans() | st.integers() | st.lists(st.integers(), max_size=2),
    "event_type": st.none() | st.booleans() | st.integers() | finite_floats | st.just({}),
    "source": st.none() | st.booleans() | st.integers() | st.just([]) | st.just({"a": 1}),
    "occurred_at": st.none() | st.booleans() | st.integers() | finite_floats | st.just([]),
    "schema_version": st.none() | st.booleans() | finite_floats | st.text(max_size=3) | st.just([1]),
    "payload": st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=3),
}


@HOSTILE
@given(data=st.data(), field=st.sampled_from(sorted(WRONG_TYPES)))
def test_a_field_of_the_wrong_json_type_is_rejected_naming_it(data: st.DataObject, field: str) -> None:
    value = data.draw(WRONG_TYPES[field])
    overrides: dict[str, Any] = {field: value}

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(write_body(value) if field == "payload" else write_body({}, **overrides))

    assert caught.value.field == field


@HOSTILE
@given(
    limit=st.integers(300, 700),
    filler=st.text(st.sampled_from(["a", "é", "€", "😀"]), max_size=200),
)
def test_the_size_limit_counts_utf8_bytes_at_and_over_the_limit(limit: int, filler: str) -> None:
    body = write_body({"filler": filler})
    size = len(body.encode("utf-8"))

    for candidate in (body, body.encode("utf-8")):
        if size > limit:
            with pytest.raises(MessageTooLargeError, match=f"body is {size} bytes; the limit is {limit} bytes"):
                parse_message(candidate, max_bytes=limit)
        else:
            assert parse_message(candidate, max_bytes=limit).payload == {"filler": filler}


def test_a_body_of_exactly_the_default_limit_is_accepted_and_one_byte_more_is_not() -> None:
    base = write_body({"blob": ""})
    exact = write_body({"blob": "a" * (MAX_BODY_BYTES - len(base))})
    over = write_body({"blob": "a" * (MAX_BODY_BYTES - len(base) + 1)})

    assert len(exact.encode("utf-8")) == MAX_BODY_BYTES
    assert parse_message(exact).payload["blob"] == "a" * (MAX_BODY_BYTES - len(base))
    with pytest.raises(MessageTooLargeError):
        parse_message(over)
