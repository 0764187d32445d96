"""Where the local pipeline's PostgreSQL comes from, tried in order, and how each one is cleaned up.

1. An explicit URL (``--database-url`` / ``SLUICE_DATABASE_URL``): used as is, never dropped.
2. A testcontainers ``PostgresContainer`` when a Docker engine answers a ping (:mod:`sluice_local.container`):
   removed on exit, and any left behind by a killed process removed on the next start.
3. A throwaway cluster from local PostgreSQL server binaries (``initdb`` and ``postgres`` on ``PATH`` or in a
   usual install directory, :mod:`sluice_local.cluster`): stopped and deleted on exit.
4. Otherwise one clear error naming the three options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Final

from sluice_local.cluster import PostgresBinaries, ThrowawayCluster, find_postgres_binaries
from sluice_local.container import POSTGRES_IMAGE, docker_reachable, postgres_container
from sluice_local.database import DatabaseKind, ProvisionedDatabase
from sluice_shared import environment as env
from sluice_shared.errors import ConfigurationError

__all__ = ["NO_DATABASE_MESSAGE", "NoDatabaseError", "provision_postgres"]

NO_DATABASE_MESSAGE: Final = (
    f"no PostgreSQL for the local pipeline: pass --database-url (or set {env.DATABASE_URL}), start a Docker "
    "engine (testcontainers then runs " + POSTGRES_IMAGE + "), or install the PostgreSQL server binaries "
    "(initdb and postgres on PATH or under /usr/lib/postgresql/<version>/bin) for a throwaway local cluster"
)


class NoDatabaseError(ConfigurationError):
    """No explicit URL, no Docker engine and no PostgreSQL server binaries: the pipeline has no database."""

    code = "no_database"


@contextmanager
def provision_postgres(
    database_url: str | None,
    *,
    docker_available: Callable[[], bool] = docker_reachable,
    find_binaries: Callable[[], PostgresBinaries | None] = find_postgres_binaries,
    start_container: Callable[[], AbstractContextManager[ProvisionedDatabase]] | None = None,
) -> Iterator[ProvisionedDatabase]:
    """Yield a PostgreSQL database from the first available source; clean it up on exit.

    Raises:
        NoDatabaseError: none of the three sources is available.
        DatabaseUnavailableError: a container or cluster did not start (its output is in the message).
    """
    if database_url:
        yield ProvisionedDatabase(database_url, DatabaseKind.EXPLICIT)
        return
    if docker_available():
        with (start_container or postgres_container)() as container:
            yield container
        return
    binaries = find_binaries()
    if binaries is None:
        raise NoDatabaseError(NO_DATABASE_MESSAGE)
    with ThrowawayCluster(binaries) as cluster:
        yield ProvisionedDatabase(cluster.url, DatabaseKind.CLUSTER, f"directory {cluster.directory}")
