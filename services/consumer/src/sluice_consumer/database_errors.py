"""psycopg errors classified once, from their types, into Sluice's hierarchy.

Data and integrity errors are permanent (:class:`ConstraintViolationError`, :class:`MissingReferenceError` for a
foreign key); connection, timeout, cancel, serialization and deadlock errors are transient
(:class:`DatabaseUnavailableError`); schema and privilege errors are configuration errors. A refused connection
is an authentication failure when a password was sent (:class:`DatabaseAuthenticationError`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from sluice_shared.errors import (
    ConfigurationError,
    ConstraintViolationError,
    DatabaseAuthenticationError,
    DatabaseUnavailableError,
    MissingReferenceError,
)

if TYPE_CHECKING:
    import psycopg

    from sluice_shared.errors import SluiceError

__all__ = ["classify_connect_error", "classify_database_error"]


def classify_database_error(exc: BaseException) -> SluiceError:
    """Translate a psycopg (or psycopg_pool) exception into Sluice's hierarchy, from its type alone."""
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, pg_errors.QueryCanceled):
        return DatabaseUnavailableError(f"statement cancelled or timed out: {exc}", sqlstate=sqlstate)
    if isinstance(exc, pg_errors.IntegrityError | pg_errors.DataError):
        diag = getattr(exc, "diag", None)
        kind = MissingReferenceError if isinstance(exc, pg_errors.ForeignKeyViolation) else ConstraintViolationError
        return kind(
            f"the database refused the row ({sqlstate}): {_first_line(exc)}",
            sqlstate=sqlstate,
            constraint=_constraint(exc, diag),
        )
    if isinstance(exc, pg_errors.InsufficientPrivilege | pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        return ConfigurationError(f"database schema or privileges do not match (run `sluice db migrate`): {exc}")
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailableError(f"no database connection became available: {exc}")
    if isinstance(exc, pg_errors.OperationalError | pg_errors.InterfaceError | pg_errors.InternalError):
        # Connection refused or lost, admin shutdown, serialization failure, deadlock, out of resources.
        return DatabaseUnavailableError(f"database unavailable: {_first_line(exc)}", sqlstate=sqlstate)
    if isinstance(exc, pg_errors.ProgrammingError | pg_errors.NotSupportedError):
        return ConfigurationError(f"database refused the statement: {_first_line(exc)}")
    return DatabaseUnavailableError(f"database error ({type(exc).__name__}): {_first_line(exc)}", sqlstate=sqlstate)


def _constraint(exc: BaseException, diag: object) -> str | None:
    """The constraint's name; for a NOT NULL column, which has none, ``<table>.<column> not null``."""
    name = getattr(diag, "constraint_name", None)
    if name is None and isinstance(exc, pg_errors.NotNullViolation):
        return f"{getattr(diag, 'table_name', None)}.{getattr(diag, 'column_name', None)} not null"
    return name


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def classify_connect_error(exc: psycopg.OperationalError) -> SluiceError:
    """Classify a failure to connect: refused credentials, or an unreachable or refusing server."""
    # libpq reports no SQLSTATE for a refused connection; whether a password was sent is structural and
    # tells an authentication failure (wrong or rotated password, expired IAM token) from an unreachable host.
    pgconn = getattr(exc, "pgconn", None)
    if pgconn is not None and getattr(pgconn, "used_password", False):
        return DatabaseAuthenticationError(f"the database refused the credentials: {_first_line(exc)}")
    return DatabaseUnavailableError(f"cannot connect to the database: {_first_line(exc)}")
