"""Where the tests' PostgreSQL comes from, and throwaway databases on it.

Order: ``SLUICE_TEST_DATABASE_URL`` when set (CI points it at the machine's PostgreSQL); otherwise a
testcontainers ``PostgresContainer`` when a Docker engine answers; otherwise the suite fails with one clear
message. Each test run creates its own databases and drops them at the end, leaving nothing behind.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sluice_cli.local.postgres import NoDatabaseError as LocalNoDatabaseError
from sluice_cli.local.postgres import provision_postgres
from sluice_shared.environment import DATABASE_URL, TEST_DATABASE_URL

if TYPE_CHECKING:
    from collections.abc import Iterator

NO_DATABASE_MESSAGE: Final = (  # the tests' own: they never start a local cluster
    f"No PostgreSQL for the integration tests: set {TEST_DATABASE_URL} "
    "(for example postgresql://postgres@127.0.0.1:5432/postgres) or start a Docker engine "
    "so testcontainers can run PostgreSQL."
)


class NoDatabaseError(RuntimeError):
    """Neither an explicit test database URL nor a reachable Docker engine is available."""


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a URL to a PostgreSQL server on which databases may be created and dropped.

    The product's own provisioning, minus the throwaway local cluster: the tests' contract is an explicit
    URL or testcontainers, nothing else.

    Raises:
        NoDatabaseError: no explicit URL and no reachable Docker engine.
    """
    try:
        with provision_postgres(os.environ.get(TEST_DATABASE_URL), find_binaries=lambda: None) as database:
            yield database.url
    except LocalNoDatabaseError as exc:
        raise NoDatabaseError(NO_DATABASE_MESSAGE) from exc


@contextmanager
def benchmark_server() -> Iterator[str]:
    """A server for benchmarks: ``SLUICE_TEST_DATABASE_URL`` or ``SLUICE_DATABASE_URL``, else what ``make run`` uses.

    That is testcontainers when Docker answers, else a throwaway cluster from local PostgreSQL binaries, so
    ``make bench`` works on a fresh machine too (figures from a throwaway cluster are labelled as such).
    """
    explicit = os.environ.get(TEST_DATABASE_URL) or os.environ.get(DATABASE_URL)
    with provision_postgres(explicit) as database:
        print(f"PostgreSQL for this benchmark: {database.kind.value} ({database.masked_url})")
        yield database.url


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


class DatabaseFactory:
    """Creates uniquely named databases on one server and drops every one of them on :meth:`cleanup`."""

    def __init__(self, server_url: str, *, prefix: str = "sluice_test") -> None:
        self.server_url = server_url
        self.prefix = prefix
        self.created: list[str] = []

    def create(self) -> str:
        """Create an empty database; return its URL."""
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return with_database(self.server_url, name)

    def cleanup(self) -> None:
        """Drop every database this factory created (forcing out leftover connections)."""
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.created.clear()
