"""Reliability fixtures: the loopback PostgreSQL proxy in front of the test server.

Phase 2 of issue 7 routes the consumer through ``pg_proxy``: build the consumer's settings with
``database_url=pg_proxy.route(migrated_database_url)`` (apply migrations directly, not through the proxy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.support.pgproxy import PgProxy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.postgres import DatabaseFactory


@pytest.fixture(scope="session")
def pg_upstream(postgres_url: str) -> str:
    """``host:port`` of the PostgreSQL server under test, as :class:`PgProxy` takes it."""
    params = conninfo_to_dict(postgres_url)
    return f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}"


@pytest.fixture(scope="module")
def proxied_database_url(database_factory: DatabaseFactory) -> str:
    """A fresh empty database for this module's tests (connect to it through a proxy with ``route``)."""
    return database_factory.create()


@pytest.fixture
def pg_proxy(pg_upstream: str) -> Iterator[PgProxy]:
    """A strict proxy: any RDS Proxy pinning trigger fails its connection, and the test when the proxy closes."""
    with PgProxy(upstream=pg_upstream, strict=True) as proxy:
        yield proxy


@pytest.fixture
def recording_proxy(pg_upstream: str) -> Iterator[PgProxy]:
    """A proxy that records pinning triggers without failing anything."""
    with PgProxy(upstream=pg_upstream, strict=False) as proxy:
        yield proxy
