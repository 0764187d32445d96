"""Where the tests' PostgreSQL comes from, and throwaway databases on it.

The integration suite finds PostgreSQL the way ``make run`` does (``sluice_local.postgres.provision_postgres``):
``SLUICE_TEST_DATABASE_URL`` when set (CI points it at the machine's PostgreSQL); otherwise a testcontainers
``PostgresContainer`` when a Docker engine answers; otherwise a throwaway cluster from the local server binaries.
``tests/integration/conftest.py`` provisions it once per run, before the first test, and shares it with every
pytest-xdist worker; each worker creates its own databases and drops them at the end, leaving nothing behind.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sluice_local.container import DEFAULT_DOCKER_SOCKET
from sluice_local.database import mask_password
from sluice_local.postgres import NoDatabaseError as LocalNoDatabaseError
from sluice_local.postgres import provision_postgres
from sluice_shared.environment import DATABASE_URL
from sluice_shared.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sluice_local.database import ProvisionedDatabase

# The server the test suite and the benchmarks use (tests only: no product code reads it).
TEST_DATABASE_URL: Final = "SLUICE_TEST_DATABASE_URL"
NO_DATABASE_MESSAGE: Final = (
    f"no PostgreSQL for the integration tests: {TEST_DATABASE_URL} is not set, no Docker engine answered "
    f"(DOCKER_HOST or {DEFAULT_DOCKER_SOCKET}) and no PostgreSQL server binaries were found (initdb and postgres "
    f"on PATH or under /usr/lib/postgresql/<version>/bin); set {TEST_DATABASE_URL} (for example "
    "postgresql://postgres@127.0.0.1:5432/postgres), start Docker, or install the PostgreSQL server package"
)
CONNECT_TIMEOUT_SECONDS: Final = 10
# Each DROP DATABASE waits for a checkpoint; concurrent drops share one, so a few connections drop much faster.
DROP_CONNECTIONS: Final = 8


class NoDatabaseError(RuntimeError):
    """The integration tests have no PostgreSQL: none of the three sources is available, or it did not answer."""


# Replacements for provision_postgres's probes (docker_available, find_binaries): tests of the suite itself set
# them through a plugin (tests/support/no_postgres.py) to play a machine without PostgreSQL.
PROBES: dict[str, Callable[[], Any]] = {}


def masked_url(database: ProvisionedDatabase) -> str:
    """The database's URL with any password replaced by ``***`` (for printing)."""
    return mask_password(database.url)


@contextmanager
def postgres_server(explicit_url: str | None) -> Iterator[ProvisionedDatabase]:
    """Yield a PostgreSQL server on which databases may be created and dropped, checked to accept connections.

    Raises:
        NoDatabaseError: with one line saying what was tried and what to do.
    """
    with ExitStack() as stack:
        try:
            database = stack.enter_context(provision_postgres(explicit_url, **PROBES))
            psycopg.connect(database.url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
        except LocalNoDatabaseError as exc:
            raise NoDatabaseError(NO_DATABASE_MESSAGE) from exc
        except DatabaseUnavailableError as exc:
            raise NoDatabaseError(f"no PostgreSQL for the integration tests: {_one_line(str(exc))}") from exc
        except psycopg.OperationalError as exc:
            source = f"{TEST_DATABASE_URL}={masked_url(database)}" if explicit_url else database.kind.value
            raise NoDatabaseError(
                f"no PostgreSQL for the integration tests: {source} refused a connection: {_one_line(str(exc))}"
            ) from exc
        yield database


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())


@contextmanager
def benchmark_server() -> Iterator[str]:
    """A server for benchmarks: ``SLUICE_TEST_DATABASE_URL`` or ``SLUICE_DATABASE_URL``, else what ``make run`` uses.

    That is testcontainers when Docker answers, else a throwaway cluster from local PostgreSQL binaries, so
    ``make bench`` works on a fresh machine too (figures from a throwaway cluster are labelled as such).
    """
    explicit = os.environ.get(TEST_DATABASE_URL) or os.environ.get(DATABASE_URL)
    with provision_postgres(explicit) as database:
        print(f"PostgreSQL for this benchmark: {database.kind.value} ({masked_url(database)})")
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
        """Drop every database this factory created (forcing out leftover connections), a few at a time."""
        names, self.created = self.created, []
        if names:
            with ThreadPoolExecutor(min(DROP_CONNECTIONS, len(names))) as pool:
                list(pool.map(self._drop, names))

    def _drop(self, name: str) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
