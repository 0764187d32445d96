"""The events columns come from one definition: EventRow, the COPY column list and types, and every statement."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sluice_consumer.ports import EventRow
from sluice_consumer.repository import (
    COLUMNS,
    COMPARE_STORED,
    COMPARED_FIELDS,
    COPY_EVENTS_BINARY,
    COPY_TYPES,
    EVENT_COLUMNS,
    INSERT_EVENTS,
    _columns,
)


def _listed(statement: str, before: str) -> list[str]:
    """The quoted names in the parenthesised list that follows ``before``."""
    match = re.search(rf"{re.escape(before)}\(([^)]*)\)", statement)
    assert match is not None, before
    return re.findall(r'"(\w+)"', match.group(1))


def test_every_written_column_is_an_event_row_field_in_the_same_order() -> None:
    # Values are taken from rows by name; rows are also built positionally (rows.event_row), so the order matches.
    assert tuple(column.name for column in EVENT_COLUMNS) == EventRow._fields == COLUMNS
    assert COPY_TYPES == ("uuid", "text", "text", "timestamptz", "int4", "jsonb", "text", "int4", "bytea")


def test_the_statements_list_exactly_the_defined_columns() -> None:
    assert _listed(COPY_EVENTS_BINARY, "COPY events ") == list(COLUMNS)
    assert _listed(INSERT_EVENTS, "INSERT INTO events ") == list(COLUMNS)
    assert _listed(INSERT_EVENTS, "AS batch") == list(COLUMNS)
    assert _listed(COMPARE_STORED, "AS batch") == ["event_id", *COMPARED_FIELDS]
    # jsonb travels as text and is cast by the server; every other array has the column's own type
    arrays = re.findall(r"%b::(\w+)\[\]", INSERT_EVENTS)
    assert arrays == ["text" if kind == "jsonb" else kind for kind in COPY_TYPES]
    assert '"batch"."payload"::jsonb' in INSERT_EVENTS


def test_rows_become_parameter_columns_by_name() -> None:
    now = datetime.now(UTC)
    rows = [EventRow(uuid.uuid4(), "t", "s", now, 1, "{}", f"m{index}", index, bytes(16)) for index in range(1, 3)]

    columns = _columns(rows)

    assert [column[0] for column in columns] == list(rows[0])
    assert columns[COLUMNS.index("sqs_message_id")] == ["m1", "m2"]
    assert _columns([]) == [[] for _ in COLUMNS]
