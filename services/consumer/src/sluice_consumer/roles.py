"""How the writer role logs in: IAM tokens where RDS offers them, else a password the schema owner sets.

Migration ``0003_writer_role`` creates ``sluice_writer`` (LOGIN, INSERT and SELECT on ``events``) and makes it a
member of ``rds_iam`` where that role exists. How it then logs in depends on the deployment, so it is set after
every migration run by whoever holds the owner's credentials (the migrations function, ``sluice db migrate``,
the local pipeline), never by a migration, which cannot hold a secret:

- IAM (no password): on RDS the writer stays in ``rds_iam``, and RDS Proxy logs in as it with IAM end to end.
- A password (Secrets Manager mode, a local or self-managed server): the writer leaves ``rds_iam`` (RDS allows
  its members IAM logins only) and gets the password. Only a SCRAM verifier computed here by libpq reaches the
  server, so the password never appears in a statement, a server log or ``pg_stat_activity``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sluice_consumer.database_errors import classify_database_error
from sluice_consumer.migrations import connect
from sluice_shared.errors import ConfigurationError
from sluice_shared.roles import IAM_ROLE, WRITER_ROLE

__all__ = ["WriterLogin", "configure_writer_login", "role_exists", "set_writer_login", "writer_conninfo"]

# Attempts at altering the writer role when another migrator alters it at the same moment.
CATALOG_RACE_ATTEMPTS: Final = 5
_ROLE_EXISTS: Final = "SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %s)"
_IS_MEMBER: Final = "SELECT pg_catalog.pg_has_role(%s, %s, 'MEMBER')"


@dataclass(frozen=True, slots=True)
class WriterLogin:
    """What :func:`configure_writer_login` left in place."""

    password_set: bool
    iam: bool  # a member of rds_iam: logs in with IAM tokens only (RDS)

    def describe(self) -> str:
        """One line for an operator."""
        if self.password_set:
            return f"{WRITER_ROLE}: password set"
        if self.iam:
            return f"{WRITER_ROLE}: IAM database authentication ({IAM_ROLE})"
        return f"{WRITER_ROLE}: no password set (trust or certificate authentication only)"


def configure_writer_login(conninfo: str, *, password: str | None) -> WriterLogin:
    """As the schema owner at ``conninfo``: give the writer ``password``, or (None) leave it to IAM.

    With a password the writer also leaves ``rds_iam``; without one it joins ``rds_iam`` where that role exists
    (switching a stack from Secrets Manager mode back to IAM). Idempotent.

    Raises:
        ConfigurationError: the writer role does not exist (migrate first) or the owner may not alter it.
        DatabaseUnavailableError: the database cannot be reached (retrying may help).
    """
    with connect(conninfo) as conn:
        for attempt in range(1, CATALOG_RACE_ATTEMPTS + 1):
            try:
                return set_writer_login(conn, password=password)
            except pg_errors.InternalError as exc:
                # The role is cluster-wide: two migrators (databases, stacks, test workers) altering it at once
                # get "tuple concurrently updated" (XX000) for the loser, whose change would only repeat the
                # winner's. It is retried after a short, random pause.
                if attempt == CATALOG_RACE_ATTEMPTS:
                    raise classify_database_error(exc) from exc
                time.sleep(random.uniform(0.05, 0.2) * attempt)
            except psycopg.Error as exc:
                raise classify_database_error(exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def set_writer_login(conn: psycopg.Connection[Any], *, password: str | None) -> WriterLogin:
    """:func:`configure_writer_login` on an open connection, in one transaction (a savepoint inside the caller's).

    Raises:
        ConfigurationError: the writer role does not exist.
        psycopg.Error: the server refused a statement (callers classify it).
    """
    with conn.transaction():
        if not role_exists(conn, WRITER_ROLE):
            raise ConfigurationError(f"role {WRITER_ROLE} does not exist: apply the migrations first")
        rds = role_exists(conn, IAM_ROLE)
        member = rds and _is_member(conn, WRITER_ROLE, IAM_ROLE)
        names = (sql.Identifier(IAM_ROLE), sql.Identifier(WRITER_ROLE))
        if password is None:
            if rds and not member:
                conn.execute(sql.SQL("GRANT {} TO {}").format(*names))
            return WriterLogin(password_set=False, iam=rds)
        if member:
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(*names))
        # libpq computes the verifier the server's password_encryption asks for (scram-sha-256 by default).
        verifier = conn.pgconn.encrypt_password(password.encode(), WRITER_ROLE.encode()).decode()
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(WRITER_ROLE), sql.Literal(verifier)))
    return WriterLogin(password_set=True, iam=False)


def role_exists(conn: psycopg.Connection[Any], role: str) -> bool:
    """True when ``role`` exists on the server (roles are cluster-wide)."""
    row = conn.execute(_ROLE_EXISTS, (role,)).fetchone()
    return bool(row and row[0])


def _is_member(conn: psycopg.Connection[Any], role: str, group: str) -> bool:
    row = conn.execute(_IS_MEMBER, (role, group)).fetchone()
    return bool(row and row[0])


def writer_conninfo(owner_conninfo: str, password: str | None) -> str:
    """The owner's URL or conninfo with the writer as user (and ``password``, when given): same server and options."""
    params = conninfo_to_dict(owner_conninfo)
    params["user"] = WRITER_ROLE
    params.pop("password", None)  # never the owner's
    if password is not None:
        params["password"] = password
    return make_conninfo("", **params)
