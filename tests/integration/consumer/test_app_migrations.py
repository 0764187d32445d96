"""The application's own migrations and its sinks' privileges, on real PostgreSQL: migrator, CLI and deploy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
import pytest

from sluice_cli.app import main
from sluice_cli.context import LocalContext
from sluice_consumer import migrate, runtime
from sluice_consumer.migration_files import APP_VERSION_BASE
from sluice_consumer.migrations import MigrationChecksumError, apply_migrations
from sluice_consumer.settings import ConsumerSettings
from sluice_shared.errors import ConfigurationError
from sluice_shared.roles import WRITER_ROLE
from tests.support.sink_registry import REGISTRY, TABLES

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.postgres import DatabaseFactory


@pytest.fixture
def app_folder(tmp_path: Path) -> Path:
    """The sink registry's tables as the application's first migration, and a second one."""
    (tmp_path / "0001_shop.sql").write_text(TABLES, encoding="utf-8")
    (tmp_path / "0002_orders_region.sql").write_text("ALTER TABLE orders ADD COLUMN region text;\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a migration", encoding="utf-8")
    return tmp_path


@pytest.fixture
def empty_url(database_factory: DatabaseFactory) -> str:
    return database_factory.create()


@pytest.fixture
def _runtime_reset() -> Iterator[None]:
    yield
    runtime.configure(None)


def test_the_applications_migrations_run_after_sluices_recorded_in_the_same_table(
    empty_url: str, app_folder: Path
) -> None:
    applied = apply_migrations(empty_url, app_migrations=str(app_folder))

    assert applied[-2:] == ["app/0001_shop", "app/0002_orders_region"]
    assert not any(name.startswith("app/") for name in applied[:-2])
    assert apply_migrations(empty_url, app_migrations=str(app_folder)) == []
    with psycopg.connect(empty_url) as conn:
        recorded = conn.execute(
            "SELECT version, name FROM sluice_schema_migrations WHERE version > %s ORDER BY version",
            (APP_VERSION_BASE,),
        ).fetchall()
    assert recorded == [(APP_VERSION_BASE + 1, "app/0001_shop"), (APP_VERSION_BASE + 2, "app/0002_orders_region")]

    # an applied migration of the application's is as immutable as Sluice's own
    (app_folder / "0002_orders_region.sql").write_text("ALTER TABLE orders ADD COLUMN area text;\n", encoding="utf-8")
    with pytest.raises(MigrationChecksumError, match="app/0002_orders_region changed"):
        apply_migrations(empty_url, app_migrations=str(app_folder))


def test_a_package_resource_names_migrations_that_ship_inside_a_lambda_asset(empty_url: str) -> None:
    with pytest.raises(ConfigurationError, match="no such folder"):
        apply_migrations(empty_url, app_migrations="sluice_consumer:no_such_folder")
    with pytest.raises(ConfigurationError, match="cannot import"):
        apply_migrations(empty_url, app_migrations="no_such_package.anywhere:migrations")


def test_db_migrate_grants_the_writer_what_the_sinks_need_and_checks_them(
    empty_url: str, app_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["db", "migrate", "--database-url", empty_url, "--app-migrations", str(app_folder)]

    assert main([*argv, "--payload-registry", REGISTRY]) == 0

    out = capsys.readouterr().out
    assert f"granted INSERT, SELECT, UPDATE on public.orders to {WRITER_ROLE}" not in out  # orders needs DELETE too
    assert f"granted DELETE, INSERT, SELECT, UPDATE on public.orders to {WRITER_ROLE}" in out
    assert f"granted INSERT, SELECT on public.payments to {WRITER_ROLE}" in out
    assert "5 sink(s) checked: no problem" in out
    with psycopg.connect(empty_url) as conn:
        row = conn.execute("SELECT has_table_privilege(%s, 'orders', 'DELETE')", (WRITER_ROLE,)).fetchone()
    assert row == (True,)


def test_sinks_check_names_each_problem_and_exits_2(
    empty_url: str, app_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app_folder / "0002_orders_region.sql").write_text("DROP TABLE order_log;\n", encoding="utf-8")
    assert main(["db", "migrate", "--database-url", empty_url, "--app-migrations", str(app_folder)]) == 0
    capsys.readouterr()

    status = main(["sinks", "check", "--database-url", empty_url, "--payload-registry", REGISTRY])

    assert status == 2
    err = capsys.readouterr().err
    assert "sink problem: order.created -> order_log: table public.order_log does not exist" in err
    assert f"role {WRITER_ROLE} may not UPDATE on public.orders" in err  # nobody granted it yet


@pytest.mark.usefixtures("_runtime_reset")
def test_a_deploy_whose_sinks_cannot_work_fails_naming_the_problem(empty_url: str, app_folder: Path) -> None:
    (app_folder / "0002_orders_region.sql").write_text("ALTER TABLE payments DROP COLUMN amount_cents;\n")
    runtime.configure(
        ConsumerSettings(
            database_url=empty_url,  # type: ignore[arg-type]
            app_migrations=str(app_folder),
            payload_registry=REGISTRY,
        )
    )

    with pytest.raises(ConfigurationError, match=r"payment\.captured -> payments: no column amount_cents"):
        migrate.lambda_handler({"RequestType": "Create"}, LocalContext())


@pytest.mark.usefixtures("_runtime_reset")
def test_a_deploy_with_working_sinks_grants_and_reports(empty_url: str, app_folder: Path) -> None:
    runtime.configure(
        ConsumerSettings(
            database_url=empty_url,  # type: ignore[arg-type]
            app_migrations=str(app_folder),
            payload_registry=REGISTRY,
        )
    )

    result = migrate.lambda_handler({"RequestType": "Create"}, LocalContext())

    assert result["applied"][-2:] == ["app/0001_shop", "app/0002_orders_region"]
