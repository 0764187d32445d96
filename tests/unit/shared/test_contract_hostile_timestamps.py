"""Timestamps against the message contract: accepted exactly when aware and convertible to UTC, else refused.

A timestamp without a zone, as Unix time, or outside years 1-9999 once converted to UTC is refused naming
``occurred_at``: Unix time is ambiguous, and such a timestamp would be stored but could not be read back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sluice_shared.contract import parse_message
from sluice_shared.errors import InvalidMessageError
from tests.support.hostile_json import HOSTILE, outcome, write_body

minute_offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@HOSTILE
@given(moment=st.datetimes(), tz=minute_offsets)  # naive moments from year 1 to 9999; the zone is drawn apart
@example(moment=datetime.min, tz=timezone(timedelta(hours=1)))  # noqa: DTZ901 - naive on purpose, zone added below
@example(moment=datetime.max, tz=timezone(timedelta(hours=-1)))  # noqa: DTZ901 - naive on purpose, zone added below
def test_aware_timestamps_are_accepted_exactly_when_they_convert_to_utc(moment: datetime, tz: timezone) -> None:
    aware = moment.replace(tzinfo=tz)
    try:
        aware.astimezone(UTC)
        convertible = True
    except OverflowError:
        convertible = False
    body = write_body({}, occurred_at=aware.isoformat())

    if convertible:
        assert parse_message(body).occurred_at == aware
    else:
        with pytest.raises(InvalidMessageError) as caught:
            parse_message(body)
        assert caught.value.field == "occurred_at"
        assert "UTC" in caught.value.reason


@HOSTILE
@given(
    text=st.datetimes().map(datetime.isoformat)  # naive
    | st.integers().map(str)  # Unix time as a string
    | st.floats(allow_nan=False).map(str)
    | st.sampled_from(
        [
            "0000-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "2026-01-01T00:00:00+24:00",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "yesterday",
            "",
            "2026-01-01",
        ]
    )
)
def test_timestamps_without_zone_numeric_or_out_of_range_are_rejected_naming_occurred_at(text: str) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(write_body({}, occurred_at=text))

    assert caught.value.field == "occurred_at"


@HOSTILE
@given(value=st.text(max_size=40))
def test_any_occurred_at_text_is_accepted_only_as_an_aware_convertible_timestamp(value: str) -> None:
    result = outcome(write_body({}, occurred_at=value))

    if isinstance(result, InvalidMessageError):
        assert result.field == "occurred_at"
    else:
        assert result.occurred_at.utcoffset() is not None
