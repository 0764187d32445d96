"""Every SQL statement a table sink runs: the catalog reads, and one statement per sink mode, composed once.

Each sink is written with one statement per batch, whatever the batch size: the rows travel as binary
``text[]`` parameters (``unnest``), are cast to the columns' own types (read from the catalog), and are
collapsed to the newest version per key before they touch the table, so two events for one key in a batch
behave as if they came one after the other. Only unnamed statements, no temporary tables, no ``SET``: nothing
here pins an RDS Proxy session.

Version guard: a row's ``version_column`` holds the version of the event that last wrote it, and an upsert,
update or delete applies only to a row whose version is older (or NULL). A delete leaves a tombstone (table
``sluice_sink_tombstones``) so an older upsert or update arriving after it stays out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from psycopg import sql
from psycopg.adapt import PyFormat

from sluice_shared.sinks import SinkMode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sluice_shared.sinks import Sink

__all__ = [
    "SELECT_TABLE_COLUMNS",
    "SELECT_UNIQUE_KEYS",
    "TOMBSTONES",
    "ColumnInfo",
    "TableInfo",
    "sink_parameters",
    "sink_statements",
]

# A table's columns: name, type for casts, NOT NULL, whether it fills itself, category. The cast names the type
# without its modifier (the schema-qualified pg_type name: varchar, bpchar, numeric): an explicit cast to
# varchar(10) or char(3) would truncate silently (and format_type's "character" means char(1)), while the
# assignment to the column refuses a value that does not fit.
SELECT_TABLE_COLUMNS: Final = """
SELECT a.attname, format('%%I.%%I', n.nspname, t.typname), a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', t.typcategory,
       format_type(a.atttypid, a.atttypmod)
FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid JOIN pg_namespace AS n ON n.oid = t.typnamespace
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
# Each unique index (and primary key) of a table, as its columns; partial and expression indexes left out,
# since ON CONFLICT (columns) cannot use them.
SELECT_UNIQUE_KEYS: Final = """
SELECT array_agg(a.attname ORDER BY k.position)
FROM pg_index AS i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indexrelid
"""
TOMBSTONES: Final = "sluice_sink_tombstones"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One column of a sink's table, as the catalog describes it."""

    name: str
    cast_type: str
    not_null: bool
    fills_itself: bool  # a default, an identity or a generated column
    category: str  # pg_type.typcategory: N numeric, S string, D date/time, B boolean, U user (uuid, jsonb), ...
    declared_type: str  # as the table declares it, for messages: character varying(64)


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A sink's table: its columns by name and the column sets of its unique indexes."""

    qualified_name: str
    columns: Mapping[str, ColumnInfo]
    unique_keys: tuple[tuple[str, ...], ...]


def _identifier(name: str) -> sql.Composable:
    return sql.Identifier(*name.split("."))


def _list(names: tuple[str, ...], *, prefix: str | None = None) -> sql.Composable:
    if prefix is None:
        return sql.SQL(", ").join(sql.Identifier(name) for name in names)
    return sql.SQL(", ").join(sql.Identifier(prefix, name) for name in names)


def _key_match(key: tuple[str, ...], left: str, right: str) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, column), sql.Identifier(right, column)) for column in key
    )


def _input(sink: Sink, table: TableInfo) -> sql.Composable:
    """``WITH batch AS (unnest of the parameters), typed AS (each value cast to its column's type)``."""
    columns = sink.written_columns
    aliases = [sql.Identifier(f"v{index}") for index in range(len(columns))]
    arrays = sql.SQL(", ").join(
        [
            sql.SQL("{}::int4[]").format(sql.Placeholder("positions", PyFormat.BINARY)),
            *(
                sql.SQL("{}::text[]").format(sql.Placeholder(f"v{index}", PyFormat.BINARY))
                for index in range(len(columns))
            ),
        ]
    )
    casts = sql.SQL(", ").join(
        sql.SQL("{}::{} AS {}").format(alias, sql.SQL(table.columns[column].cast_type), sql.Identifier(column))
        for alias, column in zip(aliases, columns, strict=True)
    )
    return sql.SQL(
        "WITH batch AS (SELECT * FROM unnest({arrays}) AS b(position, {aliases})), "
        "typed AS (SELECT position, {casts} FROM batch)"
    ).format(arrays=arrays, aliases=sql.SQL(", ").join(aliases), casts=casts)


def _latest(sink: Sink) -> sql.Composable:
    """``latest``: one row per key, the newest version (ties: the earliest in the batch, as across batches)."""
    key = _list(sink.key)
    return sql.SQL(
        ", latest AS (SELECT DISTINCT ON ({key}) * FROM typed ORDER BY {key}, {version} DESC NULLS LAST, position)"
    ).format(key=key, version=sql.Identifier(sink.version_column or ""))


def _not_tombstoned(sink: Sink, table: TableInfo, source: str) -> sql.Composable:
    """A condition: no tombstone of the row's key is as new as ``source``'s version."""
    key = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(source, column)) for column in sink.key)
    version = sink.version_column or ""
    return sql.SQL(
        "NOT EXISTS (SELECT 1 FROM {tombstones} AS tomb WHERE tomb.sink_table = %(table)s "
        "AND tomb.row_key = ARRAY[{key}] AND (tomb.version #>> '{{}}')::{type} >= {version})"
    ).format(
        tombstones=sql.Identifier(TOMBSTONES),
        key=key,
        type=sql.SQL(table.columns[version].cast_type),
        version=sql.Identifier(source, version),
    )


def _newer(sink: Sink, target: str, source: str) -> sql.Composable:
    version = sink.version_column or ""
    return sql.SQL("({target} IS NULL OR {target} < {source})").format(
        target=sql.Identifier(target, version), source=sql.Identifier(source, version)
    )


def _missing(sink: Sink, table: TableInfo, *, guarded: bool) -> sql.Composable:
    """``ARRAY(positions whose key has no row)``; with ``guarded``, a newer tombstone makes it stale instead."""
    tombstone = sql.SQL(" AND {}").format(_not_tombstoned(sink, table, "typed")) if guarded else sql.SQL("")
    return sql.SQL(
        "ARRAY(SELECT typed.position FROM typed WHERE NOT EXISTS "
        "(SELECT 1 FROM {table} AS existing WHERE {match}){tombstone})"
    ).format(
        table=_identifier(table.qualified_name), match=_key_match(sink.key, "existing", "typed"), tombstone=tombstone
    )


def sink_statements(sink: Sink, table: TableInfo, *, guarded: bool) -> tuple[sql.Composed, ...]:
    """The statements that write a batch to ``sink``, in order; ``guarded``: the table has a delete sink.

    One statement, except where deletes are declared: an upsert or update of such a table first makes sure each
    key has a lock row and locks it (two statements), and a delete writes its tombstone before it deletes (two
    statements), so that the two serialize per key across concurrent invocations. Only the last statement's
    answer counts.

    Parameters (named, see :func:`sink_parameters`): ``positions`` (``int4[]``), ``v0``, ``v1``, ... (one
    ``text[]`` per written column) and ``table`` (the qualified table name, where tombstones are read or
    written). Insert and upsert answer with the row count; update and delete with one row: the number of rows
    changed and the positions whose key has no row.
    """
    locks = _key_locks(sink, table) if guarded and sink.mode in {SinkMode.UPSERT, SinkMode.UPDATE} else ()
    return (*locks, *_write(sink, table, guarded=guarded))


def _write(sink: Sink, table: TableInfo, *, guarded: bool) -> tuple[sql.Composed, ...]:
    target = _identifier(table.qualified_name)
    columns = sink.written_columns
    payload_columns = tuple(column for column in columns if column not in sink.key)
    head = _input(sink, table)
    if sink.mode is SinkMode.INSERT:
        conflict = sql.SQL("({})").format(_list(sink.key)) if sink.key else sql.SQL("")
        insert = sql.SQL(
            "{head} INSERT INTO {target} ({columns}) SELECT {columns} FROM typed ORDER BY position "
            "ON CONFLICT {conflict} DO NOTHING"
        ).format(head=head, target=target, columns=_list(columns), conflict=conflict)
        return (insert,)
    latest = _latest(sink)
    if sink.mode is SinkMode.UPSERT:
        where = sql.SQL(" WHERE {}").format(_not_tombstoned(sink, table, "latest")) if guarded else sql.SQL("")
        assignments = sql.SQL(", ").join(
            sql.SQL("{column} = EXCLUDED.{column}").format(column=sql.Identifier(column)) for column in payload_columns
        )
        upsert = sql.SQL(
            "{head}{latest} INSERT INTO {target} AS target ({columns}) SELECT {columns} FROM latest{where} "
            "ON CONFLICT ({key}) DO UPDATE SET {assignments} WHERE {newer}"
        ).format(
            head=head,
            latest=latest,
            target=target,
            columns=_list(columns),
            where=where,
            key=_list(sink.key),
            assignments=assignments,
            newer=_newer(sink, "target", "excluded"),
        )
        return (upsert,)
    if sink.mode is SinkMode.UPDATE:
        guard = sql.SQL(" AND {}").format(_not_tombstoned(sink, table, "latest")) if guarded else sql.SQL("")
        assignments = sql.SQL(", ").join(
            sql.SQL("{column} = {value}").format(column=sql.Identifier(column), value=sql.Identifier("latest", column))
            for column in payload_columns
        )
        update = sql.SQL(
            "{head}{latest}, changed AS (UPDATE {target} AS target SET {assignments} FROM latest "
            "WHERE {match} AND {newer}{guard} RETURNING latest.position) "
            "SELECT (SELECT count(*) FROM changed)::int4, {missing}"
        ).format(
            head=head,
            latest=latest,
            target=target,
            assignments=assignments,
            match=_key_match(sink.key, "target", "latest"),
            newer=_newer(sink, "target", "latest"),
            guard=guard,
            missing=_missing(sink, table, guarded=guarded),
        )
        return (update,)
    version = sink.version_column or ""
    cast = sql.SQL(table.columns[version].cast_type)
    key_text = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier("latest", column)) for column in sink.key)
    # Two statements: the tombstone first (it takes the key's lock row, waiting for an upsert of the key that is
    # under way), then the delete, whose fresh snapshot sees what that upsert committed.
    tombstone = sql.SQL(
        "{head}{latest} INSERT INTO {tombstones} AS tomb (sink_table, row_key, version) "
        "SELECT %(table)s, ARRAY[{key_text}], to_jsonb({version}) FROM latest ORDER BY 2 "
        "ON CONFLICT (sink_table, row_key) DO UPDATE SET version = EXCLUDED.version, deleted_at = now() "
        "WHERE tomb.version IS NULL OR (tomb.version #>> '{{}}')::{cast} < (EXCLUDED.version #>> '{{}}')::{cast}"
    ).format(
        head=head,
        latest=latest,
        tombstones=sql.Identifier(TOMBSTONES),
        key_text=key_text,
        version=sql.Identifier("latest", version),
        cast=cast,
    )
    delete = sql.SQL(
        "{head}{latest}, removed AS (DELETE FROM {target} AS target USING latest WHERE {match} AND {newer} "
        "RETURNING latest.position) "
        "SELECT (SELECT count(*) FROM removed)::int4, {missing}"
    ).format(
        head=head,
        latest=latest,
        target=target,
        match=_key_match(sink.key, "target", "latest"),
        newer=_newer(sink, "target", "latest"),
        missing=_missing(sink, table, guarded=False),
    )
    return (tombstone, delete)


def _key_locks(sink: Sink, table: TableInfo) -> tuple[sql.Composed, sql.Composed]:
    """Make sure each key of the batch has a tombstone row (a lock row, no version), then lock them in key order.

    Two statements, because a row another transaction is inserting only becomes lockable in a later snapshot.
    """
    head = _input(sink, table)
    keys = sql.SQL(", keys AS (SELECT DISTINCT ARRAY[{key}] AS row_key FROM typed)").format(
        key=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(column)) for column in sink.key)
    )
    ensure = sql.SQL(
        "{head}{keys} INSERT INTO {tombstones} (sink_table, row_key, version) "
        "SELECT %(table)s, row_key, NULL FROM keys ORDER BY row_key ON CONFLICT (sink_table, row_key) DO NOTHING"
    ).format(head=head, keys=keys, tombstones=sql.Identifier(TOMBSTONES))
    lock = sql.SQL(
        "{head}{keys} SELECT 1 FROM {tombstones} AS tomb JOIN keys ON tomb.row_key = keys.row_key "
        "WHERE tomb.sink_table = %(table)s ORDER BY tomb.row_key FOR UPDATE OF tomb"
    ).format(head=head, keys=keys, tombstones=sql.Identifier(TOMBSTONES))
    return ensure, lock


def sink_parameters(table: TableInfo, positions: list[int], columns: list[list[str | None]]) -> dict[str, object]:
    """The named parameters of :func:`sink_statement`: the positions, each column's values, the table's name."""
    parameters: dict[str, object] = {"positions": positions, "table": table.qualified_name}
    parameters.update({f"v{index}": values for index, values in enumerate(columns)})
    return parameters
