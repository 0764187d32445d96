"""SQL-looking strings and the producer side of the message contract.

Strings that look like SQL are ordinary text, stored exactly; and ``validate_event`` (the producer's check on
Python data) accepts exactly what ``parse_message`` (the consumer's) will accept. The strategies and oracle are
in :mod:`tests.support.hostile_json`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice_shared.contract import parse_message, validate_event
from sluice_shared.errors import InvalidMessageError
from tests.support.factories import event_dict
from tests.support.hostile_json import HOSTILE, SQL_LOOKING, assert_storable_and_faithful, write_body


@pytest.mark.parametrize("text", SQL_LOOKING)
def test_sql_looking_strings_are_ordinary_text_stored_exactly(text: str) -> None:
    envelope = parse_message(write_body({text: text, "list": [text]}, source=text))

    assert envelope.payload == {text: text, "list": [text]}
    assert envelope.source == text


python_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(["\x00", "\ud800"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12,
)


@HOSTILE
@given(payload=st.dictionaries(st.text(max_size=4), python_values, max_size=4))
def test_producer_side_validation_accepts_exactly_what_the_consumer_will_accept(payload: dict[str, Any]) -> None:
    try:
        envelope = validate_event(event_dict(payload=payload))
    except InvalidMessageError as exc:
        rejected_field = exc.field
    else:
        assert parse_message(envelope.to_body()) == envelope
        assert_storable_and_faithful(envelope.to_body(), envelope)
        return
    assert rejected_field is not None
    assert rejected_field.startswith("payload")
