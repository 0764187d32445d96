from __future__ import annotations

import time
from typing import Any

import pytest
from psycopg_pool import PoolTimeout

from sluice_consumer import database as database_module
from sluice_consumer.database import Database, UrlCredentials
from sluice_shared.errors import DatabaseAuthenticationError, DatabaseUnavailableError


class _NeverReadyPool:
    """A pool whose connection never comes; its worker's last failure is set by the test."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def getconn(self, timeout: float) -> Any:
        self.waits.append(timeout)
        raise PoolTimeout("no connection")


def _database(last_error: Exception | None) -> tuple[Database, _NeverReadyPool]:
    database = Database(UrlCredentials("postgresql://u@db.invalid/app"), connect_timeout_s=2.0)
    pool = _NeverReadyPool()
    database._pool = pool  # type: ignore[assignment]
    database._last_connect_error = last_error  # type: ignore[assignment]
    return database, pool


def test_checkout_gives_up_at_once_when_the_server_refused_the_credentials() -> None:
    database, pool = _database(DatabaseAuthenticationError("password authentication failed"))
    started = time.monotonic()

    with pytest.raises(DatabaseAuthenticationError):
        database._checkout(timeout_s=None)

    # One short wait, not the whole 2 s: the pool would only retry with the same refused password.
    assert pool.waits == [database_module.AUTH_POLL_S]
    assert time.monotonic() - started < 1.0


def test_checkout_waits_its_whole_timeout_for_an_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    database, pool = _database(DatabaseUnavailableError("connection refused"))
    monkeypatch.setattr(database_module, "AUTH_POLL_S", 0.05)

    with pytest.raises(DatabaseUnavailableError):
        database._checkout(timeout_s=0.3)

    assert len(pool.waits) >= 5
    assert all(wait <= 0.05 for wait in pool.waits)
