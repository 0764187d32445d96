"""Sinks checked against the live database before the first message: ``sluice sinks check`` and the deploy.

For every declared sink: the table and each written column exist, the types accept what is mapped into
them, the key has a unique index (ON CONFLICT and the version guard need one), the version column can be
compared, NOT NULL columns are filled, and the writer role may do what the mode needs. Every problem is one
line naming the event type, the table and what to change; nothing is written.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from psycopg import errors as pg_errors
from psycopg import sql
from pydantic import BaseModel

from sluice_consumer.database_errors import classify_database_error
from sluice_consumer.roles import role_exists
from sluice_consumer.sink_sql import TOMBSTONES
from sluice_consumer.sink_writer import read_table
from sluice_shared.errors import ConfigurationError
from sluice_shared.roles import WRITER_ROLE  # created by migration 0003_writer_role
from sluice_shared.sinks import EnvelopeField, PayloadPath, SinkMode

if TYPE_CHECKING:
    import psycopg

    from sluice_consumer.sink_sql import TableInfo
    from sluice_shared.registry import PayloadRegistry
    from sluice_shared.sinks import ColumnSource, Sink

__all__ = ["WRITER_ROLE", "SinkProblem", "check_sinks", "grant_and_check_sinks", "grant_sink_privileges"]

HAS_PRIVILEGE: Final = "SELECT has_table_privilege(%s, %s, %s)"
# pg_type.typcategory values a version column may have: numeric, date/time, string (compared in text order).
_COMPARABLE: Final = {"N": "a number", "D": "a date or time", "S": "text"}
# What each kind of value may land in, by pg_type.typcategory. U is user-defined (uuid, json, jsonb).
_ACCEPTS: Final[dict[str, frozenset[str]]] = {
    "string": frozenset({"S", "D", "U", "N", "B", "E"}),  # text parsed by the column's type (an enum, say)
    "integer": frozenset({"N", "S"}),
    "number": frozenset({"N", "S"}),
    "boolean": frozenset({"B", "S"}),
    "datetime": frozenset({"D", "S"}),
    "uuid": frozenset({"U", "S"}),
    "json": frozenset({"U", "S"}),
}
_ENVELOPE_KINDS: Final = {
    "event_id": "uuid",
    "event_type": "string",
    "source": "string",
    "occurred_at": "datetime",
    "schema_version": "integer",
}
# ON CONFLICT needs SELECT on its arbiter columns, so even an insert sink reads its table.
_PRIVILEGES: Final = {
    SinkMode.INSERT: ("INSERT", "SELECT"),
    SinkMode.UPSERT: ("INSERT", "UPDATE", "SELECT"),
    SinkMode.UPDATE: ("UPDATE", "SELECT"),
    SinkMode.DELETE: ("DELETE", "SELECT"),
}


@dataclass(frozen=True, slots=True)
class SinkProblem:
    """One thing that keeps a sink from working."""

    event_type: str
    table: str
    problem: str

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.table}: {self.problem}"


def check_sinks(
    conn: psycopg.Connection[Any], registry: PayloadRegistry, *, role: str = WRITER_ROLE
) -> list[SinkProblem]:
    """Every problem of every sink of ``registry`` against the database on ``conn`` (empty: all good).

    Privileges are checked for ``role`` when the role exists; a database without it (a local cluster that
    predates the migrations) gets one problem saying so.
    """
    problems: list[SinkProblem] = []
    writer_exists = role_exists(conn, role)
    deleting = {sink.table for _event_type, _version, sink in registry.sinks if sink.mode is SinkMode.DELETE}
    for event_type, version, sink in registry.sinks:
        found = _problems(
            conn,
            registry,
            event_type,
            version,
            sink,
            role=role if writer_exists else None,
            tombstones=sink.table in deleting,
        )
        problems.extend(SinkProblem(event_type, sink.table, problem) for problem in found)
    if registry.sinks and not writer_exists:
        missing_role = f"role {role} does not exist: run Sluice's migrations (sluice db migrate)"
        problems.append(SinkProblem("*", "*", missing_role))
    return problems


def grant_and_check_sinks(conninfo: str, registry: PayloadRegistry, *, role: str = WRITER_ROLE) -> list[str]:
    """As a schema owner: grant ``role`` what the sinks need, then check them; return the grants made.

    What the deploy's migrations function and the local pipeline do after migrating.

    Raises:
        ConfigurationError: a sink cannot work against this schema (every problem named).
        DatabaseUnavailableError: the database could not be reached or failed.
    """
    from sluice_consumer.migrations import connect  # noqa: PLC0415 - the migrator's connection, owner's rights

    with connect(conninfo) as conn:
        conn.autocommit = True
        try:
            granted, refused = grant_sink_privileges(conn, registry, role=role)
            problems = [*refused, *check_sinks(conn, registry, role=role)]
        except pg_errors.Error as exc:
            raise classify_database_error(exc) from exc
    if problems:
        raise ConfigurationError("table sinks cannot work: " + "; ".join(dict.fromkeys(map(str, problems))))
    return granted


def grant_sink_privileges(
    conn: psycopg.Connection[Any], registry: PayloadRegistry, *, role: str = WRITER_ROLE
) -> tuple[list[str], list[SinkProblem]]:
    """Grant ``role`` what each sink's mode needs on its table (``conn`` in autocommit mode, as a table owner).

    Returns the grants made and, for each one the database refused (the migrating role does not own the
    table), a problem naming the grant its owner must make. Tables that do not exist are left to
    :func:`check_sinks`.
    """
    wanted: dict[tuple[str, str], set[str]] = {}
    events: dict[tuple[str, str], str] = {}
    for event_type, _version, sink in registry.sinks:
        key = (sink.schema_name, sink.table_name)
        wanted.setdefault(key, set()).update(_PRIVILEGES[sink.mode])
        events.setdefault(key, event_type)
    granted: list[str] = []
    problems: list[SinkProblem] = []
    for (schema, table), privileges in wanted.items():
        names = sorted(privileges)
        label = f"{schema}.{table}"
        try:
            conn.execute(
                sql.SQL("GRANT {privileges} ON TABLE {table} TO {role}").format(
                    privileges=sql.SQL(", ").join(sql.SQL(name) for name in names),  # from _PRIVILEGES, fixed words
                    table=sql.Identifier(schema, table),
                    role=sql.Identifier(role),
                )
            )
        except pg_errors.UndefinedTable:
            continue
        except pg_errors.InsufficientPrivilege:
            problem = f"could not grant {', '.join(names)} to {role}: the table's owner must grant them"
            problems.append(SinkProblem(events[schema, table], label, problem))
            continue
        granted.append(f"granted {', '.join(names)} on {label} to {role}")
    return granted, problems


def _problems(
    conn: psycopg.Connection[Any],
    registry: PayloadRegistry,
    event_type: str,
    version: int | None,
    sink: Sink,
    *,
    role: str | None,
    tombstones: bool,
) -> list[str]:
    try:
        table = read_table(conn, sink)
    except ConfigurationError:
        return [f"table {sink.schema_name}.{sink.table_name} does not exist"]
    missing = [column for column in sink.written_columns if column not in table.columns]
    if missing:
        return [f"no column {', '.join(missing)}"]
    # Schema version 0 is never valid, so it finds exactly the any-version model of a sink declared for any version.
    model = registry.model_for(event_type, 0 if version is None else version)
    found = [*_type_problems(sink, table, model), *_key_problems(sink, table), *_not_null_problems(sink, table)]
    if role is not None:
        found.extend(_privilege_problems(conn, sink, table, role=role, tombstones=tombstones))
    return found


def _type_problems(sink: Sink, table: TableInfo, model: type[BaseModel] | None) -> list[str]:
    problems = []
    sources: list[tuple[str, ColumnSource]] = list(sink.sources.items())
    if sink.version_column:
        sources.append((sink.version_column, sink.version_source))
        column = table.columns[sink.version_column]
        if column.category not in _COMPARABLE:
            problems.append(
                f"version column {sink.version_column} is {column.declared_type}, which is not ordered: "
                f"use {', '.join(_COMPARABLE.values())}"
            )
    for name, source in sources:
        kind = _kind(source, model)
        column = table.columns[name]
        if kind is not None and column.category not in _ACCEPTS[kind]:
            problems.append(f"column {name} is {column.declared_type}, which does not take {source} ({kind})")
    return problems


def _key_problems(sink: Sink, table: TableInfo) -> list[str]:
    if not sink.key:
        return []
    if any(set(key) == set(sink.key) for key in table.unique_keys):
        return []
    key = ", ".join(sink.key)
    return [f"no unique index or primary key on exactly ({key}): ON CONFLICT and the version guard need one"]


def _not_null_problems(sink: Sink, table: TableInfo) -> list[str]:
    if sink.mode not in {SinkMode.INSERT, SinkMode.UPSERT}:
        return []
    unfilled = [
        column.name
        for column in table.columns.values()
        if column.not_null and not column.fills_itself and column.name not in sink.written_columns
    ]
    return [f"column {name} is NOT NULL without a default and the sink does not fill it" for name in unfilled]


def _privilege_problems(
    conn: psycopg.Connection[Any], sink: Sink, table: TableInfo, *, role: str, tombstones: bool
) -> list[str]:
    name = sql.Identifier(*table.qualified_name.split(".")).as_string(conn)
    wanted = [(name, table.qualified_name, privilege) for privilege in _PRIVILEGES[sink.mode]]
    if tombstones and sink.mode is not SinkMode.INSERT:
        wanted.extend((TOMBSTONES, TOMBSTONES, privilege) for privilege in ("SELECT", "INSERT", "UPDATE"))
    problems = []
    for target, label, privilege in wanted:
        row = conn.execute(HAS_PRIVILEGE, (role, target, privilege)).fetchone()
        if not (row and row[0]):
            problems.append(f"role {role} may not {privilege} on {label}: grant it {privilege} there")
    return problems


def _kind(source: ColumnSource, model: type[BaseModel] | None) -> str | None:
    """What a source yields (a key of :data:`_ACCEPTS`), or ``None`` when that cannot be known statically."""
    if isinstance(source, EnvelopeField):
        return _ENVELOPE_KINDS[source.name]
    if isinstance(source, PayloadPath) and model is not None:
        return _annotation_kind(_annotation_at(model, source.path))
    return None  # computed columns, and payloads without a model: checked by the database at the first write


def _annotation_at(model: type[BaseModel], path: tuple[str, ...]) -> Any:
    current: Any = model
    for part in path:
        if part.isdigit():
            current = _element(current)
            continue
        inner = _unwrap(current)
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)) or part not in inner.model_fields:
            return None
        current = inner.model_fields[part].annotation
    return current


def _unwrap(annotation: Any) -> Any:
    """``X`` from ``X | None``, ``Optional[X]``, ``Annotated[X, ...]``."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        options = [argument for argument in typing.get_args(annotation) if argument is not type(None)]
        return _unwrap(options[0]) if len(options) == 1 else None
    return annotation


def _element(annotation: Any) -> Any:
    arguments = typing.get_args(_unwrap(annotation))
    return arguments[0] if arguments else None


def _annotation_kind(annotation: Any) -> str | None:
    inner = _unwrap(annotation)
    origin = typing.get_origin(inner)
    if origin is typing.Literal:
        values = typing.get_args(inner)
        return _annotation_kind(type(values[0])) if values else None
    if origin in {list, dict, tuple, set} or (isinstance(inner, type) and issubclass(inner, BaseModel | dict | list)):
        return "json"
    kinds: list[tuple[type, str]] = [
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (Decimal, "number"),
        (datetime, "datetime"),
        (date, "datetime"),
        (UUID, "uuid"),
        (str, "string"),
    ]
    for python_type, kind in kinds:
        if isinstance(inner, type) and issubclass(inner, python_type):
            return kind
    return None
