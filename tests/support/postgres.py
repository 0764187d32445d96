"""Where the tests' PostgreSQL comes from, and throwaway databases on it.

Order: ``SLUICE_TEST_DATABASE_URL`` when set (CI points it at the machine's PostgreSQL); otherwise a
testcontainers ``PostgresContainer`` when a Docker engine answers; otherwise the suite fails with one clear
message. Each test run creates its own databases and drops them at the end, leaving nothing behind.
"""

from __future__ import annotations

import os
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sluice_shared.environment import TEST_DATABASE_URL

if TYPE_CHECKING:
    from collections.abc import Iterator

NO_DATABASE_MESSAGE: Final = (
    f"No PostgreSQL for the integration tests: set {TEST_DATABASE_URL} "
    "(for example postgresql://postgres@127.0.0.1:5432/postgres) or start a Docker engine "
    "so testcontainers can run PostgreSQL."
)
POSTGRES_IMAGE: Final = "postgres:16"


class NoDatabaseError(RuntimeError):
    """Neither an explicit test database URL nor a reachable Docker engine is available."""


def docker_reachable() -> bool:
    """True when a Docker engine answers a ping (testcontainers' own client, short timeout)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return False  # no socket, no engine: answer without the docker client (it leaks a socket when failing)
    try:
        import docker  # noqa: PLC0415 - optional path

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            client = docker.from_env(timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
    except Exception:  # noqa: BLE001 - any failure means "no usable engine"
        return False


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a URL to a PostgreSQL server on which databases may be created and dropped.

    Raises:
        NoDatabaseError: no explicit URL and no reachable Docker engine.
    """
    explicit = os.environ.get(TEST_DATABASE_URL)
    if explicit:
        yield explicit
        return
    if not docker_reachable():
        raise NoDatabaseError(NO_DATABASE_MESSAGE)
    # testcontainers 4.15 moved the class; the old module path still works but warns.
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415 - only with Docker

    with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
        yield container.get_connection_url()


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
