"""The pool against a real PostgreSQL: checkout, credential refresh after a refusal, error classification."""

from __future__ import annotations

import pytest

from sluice_consumer import database as database_module
from sluice_consumer.database import Database
from sluice_shared.errors import DatabaseAuthenticationError, DatabaseUnavailableError

REFUSED = "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1"


class RotatingCredentials:
    """Stale credentials until refreshed (a rotated secret), then the real database."""

    def __init__(self, url: str, *, can_refresh: bool = True) -> None:
        self.url = url
        self.can_refresh = can_refresh
        self.refreshed = 0

    def conninfo(self) -> str:
        return self.url if self.refreshed else REFUSED

    def refresh(self) -> bool:
        if self.can_refresh:
            self.refreshed += 1
        return self.can_refresh


@pytest.fixture
def refusals_are_authentication_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    # This server trusts 127.0.0.1 and never refuses a password, so a refused connection stands in for one.
    monkeypatch.setattr(
        database_module, "classify_connect_error", lambda exc: DatabaseAuthenticationError(f"refused: {exc}")
    )


@pytest.mark.usefixtures("refusals_are_authentication_failures")
def test_refused_credentials_are_refreshed_once_and_the_checkout_retried(migrated_database_url: str) -> None:
    credentials = RotatingCredentials(migrated_database_url)
    database = Database(credentials, connect_timeout_s=2)
    try:
        with database.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        database.close()

    assert credentials.refreshed == 1


@pytest.mark.usefixtures("refusals_are_authentication_failures")
def test_credentials_that_cannot_be_refreshed_fail_as_authentication_errors(migrated_database_url: str) -> None:
    database = Database(RotatingCredentials(migrated_database_url, can_refresh=False), connect_timeout_s=1)
    try:
        with pytest.raises(DatabaseAuthenticationError), database.connection():
            pass
    finally:
        database.close()


def test_unreachable_server_is_unavailable_with_the_reason() -> None:
    database = Database(RotatingCredentials(REFUSED, can_refresh=False), connect_timeout_s=1)
    try:
        with pytest.raises(DatabaseUnavailableError, match="cannot connect to the database"), database.connection():
            pass
    finally:
        database.close()


def test_connection_is_reused_across_checkouts(migrated_database_url: str) -> None:
    database = Database(RotatingCredentials(migrated_database_url), connect_timeout_s=2)
    database.credentials.refresh()
    try:
        with database.connection() as first:
            pid = first.info.backend_pid
            assert first.prepare_threshold is None  # named prepared statements would pin an RDS Proxy session
        with database.connection() as second:
            assert second.info.backend_pid == pid
    finally:
        database.close()
