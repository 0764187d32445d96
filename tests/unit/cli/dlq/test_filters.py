from __future__ import annotations

from datetime import timedelta

import pytest

from sluice_cli.dlq.filters import InvalidFilterError, MessageFilter, parse_duration
from sluice_cli.dlq.messages import MAX_RECEIVE_COUNT_EXCEEDED
from tests.unit.cli.dlq.fakes import NOW, dead_letter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 2D ", timedelta(days=2)),
    ],
)
def test_durations_read_as_expected(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "m", "15x", "-1h", "1.5h", "1h-"])
def test_bad_durations_are_one_clear_error(text: str) -> None:
    with pytest.raises(InvalidFilterError, match=r"invalid duration .*use a number and a unit"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("payload.[", "invalid --where expression 'payload.[': Incomplete expression at column 9"),
        (
            "a[?b==1",
            "invalid --where expression 'a[?b==1': invalid token: Parse error at column 6, token \"1\" (NUMBER)",
        ),
    ],
)
def test_invalid_jmespath_is_one_line_naming_the_problem(expression: str, message: str) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        MessageFilter.build(where=expression)

    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_empty_filter_selects_everything() -> None:
    selector = MessageFilter.build()

    assert selector.matches(dead_letter(body="not json"), now=NOW)
    assert selector.matches(dead_letter(), now=NOW)


def test_error_type_filter_knows_messages_moved_by_sqs_redrive() -> None:
    selector = MessageFilter.build(error_types=[MAX_RECEIVE_COUNT_EXCEEDED])

    assert selector.matches(dead_letter(reason=False), now=NOW)
    assert not selector.matches(dead_letter(), now=NOW)


def test_age_window_is_inclusive_and_needs_a_timestamp() -> None:
    selector = MessageFilter.build(older_than="1h", newer_than="1d")

    assert selector.matches(dead_letter(sent_at=NOW - timedelta(hours=1)), now=NOW)
    assert selector.matches(dead_letter(sent_at=NOW - timedelta(days=1)), now=NOW)
    assert not selector.matches(dead_letter(sent_at=NOW - timedelta(minutes=59)), now=NOW)
    assert not selector.matches(dead_letter(sent_at=NOW - timedelta(days=1, seconds=1)), now=NOW)


@pytest.mark.parametrize(
    ("payload", "selected"),
    [
        ({"total": 150}, True),
        ({"total": 50}, False),
        ({"total": "150"}, False),  # comparing a string with a number is false in JMESPath
        ({}, False),
    ],
)
def test_where_selects_bodies_where_the_expression_is_truthy(payload: dict[str, object], selected: bool) -> None:
    selector = MessageFilter.build(where="payload.total > `100`")

    assert selector.matches(dead_letter(payload=payload), now=NOW) is selected


def test_where_never_selects_a_body_that_is_not_json_or_fails_the_expression() -> None:
    selector = MessageFilter.build(where="length(payload.items) > `1`")

    assert not selector.matches(dead_letter(body="{not json"), now=NOW)
    assert not selector.matches(dead_letter(payload={"items": 3}), now=NOW)
    assert selector.matches(dead_letter(payload={"items": [1, 2]}), now=NOW)
