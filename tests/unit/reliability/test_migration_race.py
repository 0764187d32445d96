"""The version table's creation survives losing a race with another first-time migrator (fakes, no database)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from psycopg import errors as pg_errors

from sluice_consumer import migrations
from sluice_consumer.repository import CREATE_MIGRATIONS_TABLE

if TYPE_CHECKING:
    from collections.abc import Iterator


class RacingConnection:
    """Fails the first ``failures`` executions with ``error`` (what the loser of a CREATE race sees), then works."""

    def __init__(self, error: type[Exception], *, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.executed: list[str] = []
        self.transactions: list[str] = []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            yield
        except Exception:
            self.transactions.append("rolled back")
            raise
        self.transactions.append("committed")

    def execute(self, query: str) -> Any:
        self.executed.append(query)
        if self.failures:
            self.failures -= 1
            raise self.error('type "sluice_schema_migrations" already exists')
        return None


@pytest.mark.parametrize("error", [pg_errors.DuplicateObject, pg_errors.UniqueViolation, pg_errors.DuplicateTable])
def test_a_lost_creation_race_is_run_again_and_finds_the_table(error: type[Exception]) -> None:
    conn = RacingConnection(error, failures=1)

    migrations._ensure_version_table(conn)  # type: ignore[arg-type]

    assert conn.executed == [CREATE_MIGRATIONS_TABLE, CREATE_MIGRATIONS_TABLE]
    assert conn.transactions == ["rolled back", "committed"]


def test_a_name_clash_that_persists_is_raised_after_the_second_attempt() -> None:
    conn = RacingConnection(pg_errors.DuplicateObject, failures=2)

    with pytest.raises(pg_errors.DuplicateObject, match="already exists"):
        migrations._ensure_version_table(conn)  # type: ignore[arg-type]

    assert conn.transactions == ["rolled back", "rolled back"]
