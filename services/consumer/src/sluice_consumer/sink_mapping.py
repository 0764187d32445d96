"""From a validated event to the values each of its sinks writes, as text ready for PostgreSQL to cast.

Every value travels as text in a binary ``text[]`` parameter (binary arrays need no escaping) and the statement
casts it to the column's type, read from the catalog (:mod:`sluice_consumer.sink_catalog`). So one code path
serves every column type, and what does not fit a column is refused by PostgreSQL exactly as a direct
``INSERT`` would refuse it: a too-long string, a malformed number, a NULL in a NOT NULL column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel
from pydantic_core import to_json

from sluice_shared.errors import SinkMappingError
from sluice_shared.sinks import SinkEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sluice_shared.contract import EventEnvelope
    from sluice_shared.sinks import Sink

__all__ = ["SinkWrite", "as_text", "sink_writes"]


@dataclass(frozen=True, slots=True)
class SinkWrite:
    """One event's row for one sink: the values of ``sink.written_columns``, as text (the version last)."""

    sink: Sink
    values: tuple[str | None, ...]


def sink_writes(envelope: EventEnvelope, payload: BaseModel | None, sinks: Sequence[Sink]) -> tuple[SinkWrite, ...]:
    """The rows ``envelope`` writes to each of ``sinks`` (computed columns see ``payload`` when it is a model).

    Raises:
        SinkMappingError: a computed column raised; the message is dead-lettered naming the sink and column.
    """
    if not sinks:
        return ()
    event = SinkEvent(envelope, payload if payload is not None else envelope.payload)
    writes = []
    for sink in sinks:
        sources = list(sink.sources.items())
        if sink.version_column:
            sources.append((sink.version_column, sink.version_source))
        values: list[str | None] = []
        for column, source in sources:
            try:
                values.append(as_text(source.read(event)))
            except Exception as exc:
                # The exception's text may quote payload values: only its type is kept in the reason.
                raise SinkMappingError(
                    f"sink on {sink.table!r}: column {column!r} ({source}) raised {type(exc).__name__} "
                    f"for this {envelope.event_type} event"
                ) from exc
        writes.append(SinkWrite(sink, tuple(values)))
    return tuple(writes)


def as_text(value: Any) -> str | None:
    """``value`` as the text PostgreSQL parses for its column type; ``None`` stays NULL.

    JSON objects and arrays become JSON text (for ``json``/``jsonb`` columns), booleans ``true``/``false``,
    datetimes ISO 8601 with their offset. A non-finite float becomes text PostgreSQL reads as NaN/Infinity for
    ``float8`` and refuses elsewhere.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | UUID):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return to_json(value).decode()
