"""How a checkout waits: it gives up as soon as a connection attempt made for it failed, never before."""

from __future__ import annotations

import time
from typing import Any

import pytest
from psycopg_pool import PoolTimeout

from sluice_consumer import database as database_module
from sluice_consumer.credentials import UrlCredentials
from sluice_consumer.database import Database
from sluice_shared.errors import DatabaseAuthenticationError, DatabaseUnavailableError, SluiceError


class _AttemptingPool:
    """A pool whose connection never comes: each checkout starts one attempt, which fails with ``error``."""

    def __init__(self, database: Database, error: SluiceError | None) -> None:
        self.database = database
        self.error = error
        self.waits: list[float] = []

    def getconn(self, timeout: float) -> Any:
        self.waits.append(timeout)
        if len(self.waits) == 1:  # the empty pool starts an attempt at once (reconnect_timeout=0: no backoff)
            self.database._attempts_started += 1
            if self.error is not None:  # ... which fails, or is still connecting (None)
                self.database._last_connect_error = self.error
                self.database._last_failed_attempt = self.database._attempts_started
        raise PoolTimeout("no connection")


def _database(error: SluiceError | None) -> tuple[Database, _AttemptingPool]:
    database = Database(UrlCredentials("postgresql://u@db.invalid/app"), connect_timeout_s=2.0)
    pool = _AttemptingPool(database, error)
    database._pool = pool  # type: ignore[assignment]
    return database, pool


@pytest.mark.parametrize(
    "error",
    [DatabaseAuthenticationError("password authentication failed"), DatabaseUnavailableError("connection refused")],
    ids=["refused-credentials", "unreachable"],
)
def test_checkout_gives_up_as_soon_as_the_attempt_made_for_it_failed(error: SluiceError) -> None:
    database, pool = _database(error)
    started = time.monotonic()

    with pytest.raises(type(error)) as caught:
        database._checkout(timeout_s=None)

    # One short wait, not the whole 2 s: the attempt failed, so the invocation fails fast and is retried.
    assert caught.value is error
    assert pool.waits == [database_module.CHECKOUT_POLL_S]
    assert time.monotonic() - started < 1.0


def test_an_earlier_failure_does_not_end_a_new_checkout_early(monkeypatch: pytest.MonkeyPatch) -> None:
    # given an attempt that failed before this checkout began, and a new one still connecting
    database, pool = _database(None)
    database._attempts_started = database._last_failed_attempt = 7
    database._last_connect_error = DatabaseUnavailableError("connection refused")
    monkeypatch.setattr(database_module, "CHECKOUT_POLL_S", 0.05)

    # when the checkout waits, then it waits its whole timeout in short polls
    with pytest.raises(DatabaseUnavailableError):
        database._checkout(timeout_s=0.3)

    assert len(pool.waits) >= 5
    assert all(wait <= 0.05 for wait in pool.waits)


class _BuggyCredentials:
    """A credentials provider with a bug: it fails with an exception that is not a Sluice error."""

    def __init__(self, bug: Exception) -> None:
        self.bug = bug

    def conninfo(self) -> str:
        raise self.bug

    def refresh(self) -> bool:
        return False


def test_a_credentials_bug_propagates_instead_of_passing_for_an_unreachable_database() -> None:
    # given a real pool whose credentials provider fails with a bug (no server is ever contacted)
    bug = KeyError("password")
    database = Database(_BuggyCredentials(bug), connect_timeout_s=2.0)
    started = time.monotonic()

    # when a checkout waits for the connection attempt made for it
    try:
        with pytest.raises(KeyError) as caught:
            database._checkout(timeout_s=None)
    finally:
        database.close()

    # then the bug itself is raised, at once, not a transient DatabaseUnavailableError to be retried
    assert caught.value is bug
    assert time.monotonic() - started < 1.0
