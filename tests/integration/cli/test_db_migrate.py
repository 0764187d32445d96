"""``sluice db migrate`` and ``sluice db status`` against a real PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from sluice_cli.app import EXIT_FAILED, main
from sluice_consumer.migration_files import available_migrations

if TYPE_CHECKING:
    import pytest

    from tests.support.postgres import DatabaseFactory

SHIPPED = [migration.name for migration in available_migrations()]
LATEST = max(migration.version for migration in available_migrations())
NO_PASSWORD = "sluice_writer: no password set (trust or certificate authentication only)"


def test_migrate_applies_then_reports_up_to_date(
    database_factory: DatabaseFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database_factory.create()

    first = main(["db", "migrate", "--database-url", url])
    first_out = capsys.readouterr().out
    second = main(["db", "migrate", "--database-url", url])
    second_out = capsys.readouterr().out

    assert (first, second) == (0, 0)
    assert first_out.splitlines() == [
        *(f"applied {name}" for name in SHIPPED),
        f"applied {len(SHIPPED)} migration(s); schema version {LATEST}",
        NO_PASSWORD,
    ]
    assert second_out.splitlines() == [f"already up to date; schema version {LATEST}", NO_PASSWORD]


def test_migrate_reads_the_url_from_the_environment(
    database_factory: DatabaseFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_factory.create())

    assert main(["db", "migrate"]) == 0
    assert "applied 0001_events" in capsys.readouterr().out


def test_status_lists_pending_then_applied(
    database_factory: DatabaseFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database_factory.create()

    before = main(["db", "status", "--database-url", url])
    before_out = capsys.readouterr().out
    main(["db", "migrate", "--database-url", url])
    capsys.readouterr()
    after = main(["db", "status", "--database-url", url])

    assert (before, after) == (EXIT_FAILED, 0)
    assert before_out.splitlines() == [f"pending  {name}" for name in SHIPPED]
    assert capsys.readouterr().out.splitlines() == [f"applied  {name}" for name in SHIPPED]


def test_unreachable_database_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["db", "migrate", "--database-url", "postgresql://postgres@127.0.0.1:1/none"])

    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_FAILED
    assert line.startswith("error: cannot connect to the database: connection failed:")


def test_migrate_gives_the_consumer_role_the_password_from_the_environment(
    database_factory: DatabaseFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database_factory.create()
    monkeypatch.setenv("SLUICE_DB_WRITER_PASSWORD", "a-long-local-password")

    assert main(["db", "migrate", "--database-url", url]) == 0

    assert capsys.readouterr().out.splitlines()[-1] == "sluice_writer: password set"
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'sluice_writer'").fetchone()
    assert row is not None
    assert str(row[0]).startswith("SCRAM-SHA-256$")
