"""Reliability fixtures: the loopback PostgreSQL proxy in front of the test server.

Phase 2 of issue 7 routes the consumer through ``pg_proxy``: build the consumer's settings with
``database_url=pg_proxy.route(migrated_database_url)`` (apply migrations directly, not through the proxy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.pgproxy import PgProxy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.postgres import DatabaseFactory


@pytest.fixture(scope="module")
def proxied_database_url(database_factory: DatabaseFactory) -> str:
    """A fresh empty database for this module's tests (connect to it through a proxy with ``route``)."""
    return database_factory.create()


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[PgProxy]:
    """A strict proxy: any RDS Proxy pinning trigger fails its connection, and the test when the proxy closes."""
    with PgProxy.for_server(postgres_url, strict=True) as proxy:
        yield proxy


@pytest.fixture
def recording_proxy(postgres_url: str) -> Iterator[PgProxy]:
    """A proxy that records pinning triggers without failing anything."""
    with PgProxy.for_server(postgres_url, strict=False) as proxy:
        yield proxy
