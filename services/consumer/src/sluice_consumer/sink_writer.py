"""Writes a batch's sink rows: one statement per sink, in the transaction that records the batch's events.

The target tables' catalogs are read once per execution environment (on a sink's first write) and the
statements composed once. Sinks that create rows (insert, upsert) run first, in the order they were declared
(declare a parent table's sink before its children's, so a foreign key finds the parent written in the same
batch), then updates, then deletes: an update or delete in a batch sees the rows that batch created.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from psycopg import sql

from sluice_consumer.sink_sql import (
    SELECT_TABLE_COLUMNS,
    SELECT_UNIQUE_KEYS,
    ColumnInfo,
    TableInfo,
    sink_parameters,
    sink_statements,
)
from sluice_shared.errors import ConfigurationError
from sluice_shared.sinks import OnMissingRow, SinkMode

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

    from sluice_consumer.sink_mapping import SinkWrite
    from sluice_shared.sinks import Sink

__all__ = ["MODE_ORDER", "Outcome", "SinkResult", "SinkWriter", "read_table"]

# Sinks run in this order of phases; within a phase, in declaration order.
MODE_ORDER: Final = ({SinkMode.INSERT, SinkMode.UPSERT}, {SinkMode.UPDATE}, {SinkMode.DELETE})


def _phase(mode: SinkMode) -> int:
    return next(index for index, modes in enumerate(MODE_ORDER) if mode in modes)


class Outcome:
    """What happened to one event's row in one sink (the names counted in metrics and the batch log line)."""

    APPLIED = "applied"
    """Inserted, updated or deleted."""
    DUPLICATE = "duplicate"
    """Insert mode: a row with its key was there already."""
    STALE = "stale"
    """A newer version is stored (or a newer tombstone, or a newer event for the key in the batch)."""
    MISSING = "missing"
    """Update or delete: no row has its key."""


@dataclass(slots=True)
class SinkResult:
    """Rows per table and outcome, and the positions whose missing row keeps them from being committed."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    held_back: dict[int, Sink] = field(default_factory=dict)
    """Position -> the update or delete sink that found no row, when its policy is retry or dead-letter."""


def read_table(conn: psycopg.Connection[Any], sink: Sink) -> TableInfo:
    """The catalog's description of ``sink``'s table.

    Raises:
        ConfigurationError: the table does not exist (the batch is retried until the migrations ran).
    """
    qualified = f"{sink.schema_name}.{sink.table_name}"
    name = sql.Identifier(sink.schema_name, sink.table_name).as_string(conn)
    columns = {row[0]: ColumnInfo(*row) for row in conn.execute(SELECT_TABLE_COLUMNS, (name,))}
    if not columns:
        raise ConfigurationError(f"sink table {qualified} does not exist: run your migrations (`sluice db migrate`)")
    keys = tuple(tuple(key) for (key,) in conn.execute(SELECT_UNIQUE_KEYS, (name,)))
    return TableInfo(qualified, columns, keys)


class SinkWriter:
    """Writes sink rows for the sinks of one registry; keeps the catalog and statements it has composed."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sorted(sinks, key=lambda sink: _phase(sink.mode)))
        # Tables with a delete sink keep tombstones that their other sinks consult.
        self._guarded = frozenset(sink.table for sink in sinks if sink.mode is SinkMode.DELETE)
        self._tables: dict[str, TableInfo] = {}
        self._statements: dict[int, tuple[sql.Composed, ...]] = {}

    def _prepare(self, conn: psycopg.Connection[Any], sink: Sink) -> tuple[TableInfo, tuple[sql.Composed, ...]]:
        table = self._tables.get(sink.table)
        if table is None:
            table = self._tables[sink.table] = read_table(conn, sink)
        statement = self._statements.get(id(sink))
        if statement is None:
            unknown = [column for column in sink.written_columns if column not in table.columns]
            if unknown:
                raise ConfigurationError(
                    f"sink table {table.qualified_name} has no column {', '.join(unknown)}: run your migrations"
                )
            statement = self._statements[id(sink)] = sink_statements(sink, table, guarded=sink.table in self._guarded)
        return table, statement

    def write(self, conn: psycopg.Connection[Any], writes: Sequence[tuple[int, SinkWrite]]) -> SinkResult:
        """Write every ``(position, write)``; one statement per sink that has rows.

        Raises psycopg's own errors (callers classify them), and :class:`ConfigurationError` for a missing table
        or column.
        """
        by_sink: dict[int, list[tuple[int, SinkWrite]]] = defaultdict(list)
        for position, write in writes:
            by_sink[id(write.sink)].append((position, write))
        result = SinkResult()
        for sink in self.sinks:
            rows = by_sink.get(id(sink))
            if rows:
                self._write_sink(conn, sink, rows, result)
        return result

    def _write_sink(
        self, conn: psycopg.Connection[Any], sink: Sink, rows: list[tuple[int, SinkWrite]], result: SinkResult
    ) -> None:
        table, statements = self._prepare(conn, sink)
        positions = [position for position, _ in rows]
        columns = [list(values) for values in zip(*(write.values for _, write in rows), strict=True)]
        missing: list[int] = []
        parameters = sink_parameters(table, positions, columns)
        with conn.cursor(binary=True) as cursor:
            for statement in statements:  # the last one's answer counts
                cursor.execute(statement, parameters)
            if sink.mode in {SinkMode.INSERT, SinkMode.UPSERT}:
                applied = cursor.rowcount
            else:
                answer = cursor.fetchone()
                applied, missing = (int(answer[0]), list(answer[1])) if answer else (0, [])
        other = Outcome.DUPLICATE if sink.mode is SinkMode.INSERT else Outcome.STALE
        name = table.qualified_name
        result.counts[name, Outcome.APPLIED] += applied
        result.counts[name, Outcome.MISSING] += len(missing)
        result.counts[name, other] += len(rows) - applied - len(missing)
        if sink.missing_row_policy is not OnMissingRow.IGNORE:
            for position in missing:
                result.held_back.setdefault(position, sink)
