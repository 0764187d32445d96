"""Concurrent first-time migrators against a real PostgreSQL: each migration applied once, no migrator fails.

Before the fix in ``sluice_consumer.migrations._ensure_version_table``, about one round in ten of six
first-time migrators lost the race on ``CREATE TABLE IF NOT EXISTS`` with ``type "sluice_schema_migrations"
already exists`` (DuplicateObject; measured: 15 failures in 150 rounds). Thirty rounds catch a regression of
that rate with a probability of about 96 %; the unit tests in ``tests/unit/reliability/test_migration_race.py``
pin the retry itself.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import psycopg
import pytest

from sluice_consumer.migration_files import available_migrations
from sluice_consumer.migrations import apply_migrations
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from tests.support.postgres import DatabaseFactory

ROUNDS = 30
MIGRATORS = 6
SHIPPED = [migration.name for migration in available_migrations()]


def _race(url: str) -> tuple[list[list[str]], list[BaseException]]:
    start = threading.Barrier(MIGRATORS)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        start.wait()
        try:
            results.append(apply_migrations(url))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(MIGRATORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_first_time_migrators_racing_never_fail_and_apply_each_migration_once(
    database_factory: DatabaseFactory,
) -> None:
    outcomes = [_race(database_factory.create()) for _ in range(ROUNDS)]

    assert [errors for _, errors in outcomes] == [[]] * ROUNDS
    assert [sorted(results) for results, _ in outcomes] == [[[]] * (MIGRATORS - 1) + [SHIPPED]] * ROUNDS


def test_another_object_holding_the_version_tables_name_is_a_clear_configuration_error(
    database_factory: DatabaseFactory,
) -> None:
    url = database_factory.create()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TYPE sluice_schema_migrations AS ENUM ('taken')")

    with pytest.raises(ConfigurationError, match='type "sluice_schema_migrations" already exists'):
        apply_migrations(url)
