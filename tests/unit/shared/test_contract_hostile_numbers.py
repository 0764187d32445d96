"""Numbers against the message contract: finite doubles and long integers round-trip exactly; the rest is refused.

NaN, Infinity and numbers that overflow a double cannot be stored in jsonb, and integers longer than
``MAX_INT_DIGITS`` cannot be converted by Python; underflow reads as zero like every JSON parser. The writer and
strategies are in :mod:`tests.support.hostile_json`.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from sluice_shared.contract import MAX_INT_DIGITS, parse_message, validate_event
from sluice_shared.errors import InvalidMessageError
from tests.support.factories import event_dict
from tests.support.hostile_json import HOSTILE, Raw, finite_floats, storable_ints, write_body


@HOSTILE
@given(value=finite_floats | storable_ints)
def test_finite_numbers_and_long_integers_round_trip_exactly(value: float) -> None:
    envelope = parse_message(write_body({"n": value}))

    assert envelope.payload["n"] == value
    assert parse_message(envelope.to_body()).payload["n"] == value


def test_a_number_below_the_smallest_double_reads_as_zero_like_every_json_parser() -> None:
    # Underflow is the documented IEEE 754 reading (RFC 8259 section 6), not an overflow to a value jsonb refuses.
    assert parse_message(write_body(Raw('{"n": 1e-400}'))).payload == {"n": 0.0}


def test_an_integer_of_exactly_the_maximum_length_is_accepted() -> None:
    value = int("9" * MAX_INT_DIGITS)

    assert parse_message(write_body(Raw('{"n": -' + "9" * MAX_INT_DIGITS + "}"))).payload == {"n": -value}


@pytest.mark.parametrize(
    "value", [math.inf, -math.inf, math.nan, 10**MAX_INT_DIGITS], ids=["inf", "-inf", "nan", "10**4300"]
)
def test_python_data_with_unstorable_numbers_is_rejected_naming_the_field(value: float) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        validate_event(event_dict(payload={"order_id": "o-1", "amount": value}))

    assert caught.value.field == "payload.amount"
