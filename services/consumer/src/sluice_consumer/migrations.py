"""Schema migrations: numbered plain SQL files shipped as package data, applied by one function.

``migrations/NNNN_name.sql`` files are applied in order, each recorded with its checksum in
``sluice_schema_migrations``. Applying is idempotent (applied versions are skipped) and safe to run
concurrently: every migrator takes a transaction-level lock on the version table, so one applies and the
others then find nothing left to do. The tests, ``sluice db migrate`` and the deployed stack's migration
function all call :func:`apply_migrations`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sluice_consumer.database_errors import classify_connect_error, classify_database_error
from sluice_consumer.migration_files import APP_VERSION_BASE, Migration, available_migrations
from sluice_consumer.migration_files import app_migrations as app_migration_files
from sluice_consumer.repository import (
    CREATE_MIGRATIONS_TABLE,
    INSERT_MIGRATION,
    LOCK_MIGRATIONS_TABLE,
    MIGRATIONS_TABLE_EXISTS,
    SELECT_MIGRATIONS,
)
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Migration",
    "MigrationChecksumError",
    "MigrationResult",
    "MigrationStatus",
    "apply_migrations",
    "available_migrations",
    "connect",
    "migrate",
    "migration_status",
]

CONNECT_TIMEOUT_S: Final = 10
# Creating the version table: once, and once more after losing a race with another first-time migrator.
_CREATE_ATTEMPTS: Final = 2


class MigrationChecksumError(ConfigurationError):
    """An applied migration's file changed since it was applied: add a new migration instead of editing one."""

    code = "migration_checksum"


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """What one run applied and the schema version afterwards."""

    applied: list[str]
    version: int


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Which shipped migrations a database has and which it still needs."""

    applied: list[str]
    pending: list[str]


def migrate(conn: psycopg.Connection[Any], *, app: Sequence[Migration] = ()) -> MigrationResult:
    """Apply pending migrations on ``conn`` (not in autocommit mode): Sluice's, then the application's ``app``.

    Returns what was applied and Sluice's schema version (the application's versions are not part of it).

    Raises:
        MigrationChecksumError: an applied migration's file has changed.
        psycopg.Error: the database refused a statement (callers classify it).
    """
    _ensure_version_table(conn)
    applied: list[str] = []
    with conn.transaction():
        conn.execute(LOCK_MIGRATIONS_TABLE)
        done = {version: (name, checksum) for version, name, checksum in conn.execute(SELECT_MIGRATIONS)}
        migrations = available_migrations()
        for migration in [*migrations, *app]:
            recorded = done.get(migration.version)
            if recorded is not None:
                if recorded[1] != migration.checksum:
                    raise MigrationChecksumError(
                        f"migration {migration.name} changed after it was applied (checksum mismatch)"
                    )
                continue
            conn.execute(migration.sql)  # a file shipped in the package, not input
            conn.execute(INSERT_MIGRATION, (migration.version, migration.name, migration.checksum))
            applied.append(migration.name)
        version = max([*(v for v in done if v < APP_VERSION_BASE), *(m.version for m in migrations)], default=0)
    return MigrationResult(applied, version)


def _ensure_version_table(conn: psycopg.Connection[Any]) -> None:
    # First-time migrators racing on CREATE TABLE IF NOT EXISTS: a loser whose existence check ran before the
    # winner committed fails on the catalog instead (UniqueViolation on pg_type's name index, DuplicateTable, or
    # DuplicateObject 'type "sluice_schema_migrations" already exists'). Run again, it finds the committed table
    # and does nothing; a genuine name clash (another object of that name) fails the second time too.
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            with conn.transaction():
                conn.execute(CREATE_MIGRATIONS_TABLE)
        except (pg_errors.UniqueViolation, pg_errors.DuplicateTable, pg_errors.DuplicateObject):
            if attempt == _CREATE_ATTEMPTS:
                raise
            continue
        return


def apply_migrations(conninfo: str, *, app_migrations: str | None = None) -> list[str]:
    """Connect to ``conninfo``, apply every pending migration, return the names of those newly applied.

    ``app_migrations`` names the application's migrations folder (see :mod:`sluice_consumer.migration_files`);
    they are applied after Sluice's.

    Raises:
        ConfigurationError: the URL is invalid, the role lacks privileges, or a migration file changed.
        DatabaseUnavailableError: the database cannot be reached (retrying may help).
    """
    return apply_migrations_with_version(conninfo, app_migrations=app_migrations).applied


def apply_migrations_with_version(conninfo: str, *, app_migrations: str | None = None) -> MigrationResult:
    """:func:`apply_migrations`, also returning Sluice's schema version afterwards."""
    app = app_migration_files(app_migrations) if app_migrations else []
    with connect(conninfo) as conn:
        try:
            return migrate(conn, app=app)
        except psycopg.Error as exc:
            raise classify_database_error(exc) from exc


def migration_status(conninfo: str, *, app_migrations: str | None = None) -> MigrationStatus:
    """Read which migrations the database at ``conninfo`` has applied; changes nothing.

    Raises the same errors as :func:`apply_migrations`.
    """
    with connect(conninfo) as conn:
        try:
            row = conn.execute(MIGRATIONS_TABLE_EXISTS).fetchone()
            done = {name for _, name, _ in conn.execute(SELECT_MIGRATIONS)} if row and row[0] else set()
        except psycopg.Error as exc:
            raise classify_database_error(exc) from exc
    app = app_migration_files(app_migrations) if app_migrations else []
    names = [migration.name for migration in [*available_migrations(), *app]]
    return MigrationStatus(
        applied=[name for name in names if name in done], pending=[name for name in names if name not in done]
    )


def connect(conninfo: str) -> psycopg.Connection[Any]:
    """A connection (not in autocommit mode) to ``conninfo``, with a connect timeout unless it sets one.

    Raises:
        DatabaseUnavailableError / DatabaseAuthenticationError: the server cannot be reached or refused us.
        ConfigurationError: the URL is invalid.
    """
    try:
        # Without a connect_timeout libpq waits for the operating system's TCP timeout (minutes).
        if "connect_timeout" not in conninfo_to_dict(conninfo):
            conninfo = make_conninfo(conninfo, connect_timeout=CONNECT_TIMEOUT_S)
        return psycopg.connect(conninfo, autocommit=False, prepare_threshold=None)
    except psycopg.OperationalError as exc:
        raise classify_connect_error(exc) from exc
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"invalid database URL: {exc}") from exc
