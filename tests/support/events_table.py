"""Statements on the ``events`` table that only tests and benchmarks run, built from the consumer's one column list.

The product's own statements live in :mod:`sluice_consumer.repository`; these read rows back, count them, and
load the benchmarks' yardstick (a plain text ``COPY`` of the event data, without Sluice's content digest).
"""

from __future__ import annotations

from operator import attrgetter
from typing import Final

from psycopg import sql

from sluice_consumer.repository import EVENT_COLUMNS

__all__ = [
    "COPY_EVENTS",
    "COPY_EVENTS_BINARY_WITHOUT_DIGEST",
    "COUNT_EVENTS",
    "EVENT_DATA_COLUMNS",
    "SELECT_EVENT",
    "event_data",
]

# The event data a producer sends, as stored: every written column but Sluice's content digest.
EVENT_DATA_COLUMNS: Final = tuple(column for column in EVENT_COLUMNS if column.name != "content_digest")
_DATA: Final = sql.SQL(", ").join(sql.Identifier(column.name) for column in EVENT_DATA_COLUMNS)

COUNT_EVENTS: Final = "SELECT count(*) FROM events"
# One stored event: its data, then received_at (the server's clock).
SELECT_EVENT: Final = sql.SQL("SELECT {}, received_at FROM events WHERE event_id = %s").format(_DATA).as_string()
# Text COPY of the event data: the benchmarks' yardstick (a plain, non-idempotent bulk load).
COPY_EVENTS: Final = sql.SQL("COPY events ({}) FROM STDIN").format(_DATA).as_string()
# The same in binary: the store's fresh path as it was before content digests.
COPY_EVENTS_BINARY_WITHOUT_DIGEST: Final = (
    sql.SQL("COPY events ({}) FROM STDIN (FORMAT BINARY)").format(_DATA).as_string()
)
# An EventRow's event data, in EVENT_DATA_COLUMNS' order.
event_data: Final = attrgetter(*(column.name for column in EVENT_DATA_COLUMNS))
