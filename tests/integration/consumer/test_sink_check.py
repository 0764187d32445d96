"""``check_sinks`` against real PostgreSQL: a correct schema has no problem; each kind of mistake is one line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from sluice_consumer.sink_check import check_sinks
from tests.support.sink_registry import TABLES, registry

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def db(migrated_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute(TABLES)
        yield conn


def _problems(db: psycopg.Connection[Any], role: str = "postgres") -> list[str]:
    return [str(problem) for problem in check_sinks(db, registry(), role=role)]


def test_the_tables_the_sinks_were_written_for_have_no_problem(db: psycopg.Connection[Any]) -> None:
    role = db.execute("SELECT current_user").fetchone()
    assert role is not None

    assert _problems(db, role=role[0]) == []


def test_each_mistake_in_the_schema_is_named_on_its_own_line(db: psycopg.Connection[Any]) -> None:
    role = db.execute("SELECT current_user").fetchone()
    assert role is not None
    # given a table that no longer fits its sinks
    db.execute("ALTER TABLE orders DROP CONSTRAINT orders_pkey CASCADE")  # payments' foreign key goes with it
    db.execute("ALTER TABLE orders ALTER COLUMN status_version TYPE jsonb USING to_jsonb(status_version)")
    db.execute("ALTER TABLE orders DROP CONSTRAINT orders_total_not_negative")
    db.execute("ALTER TABLE orders ALTER COLUMN total_cents TYPE boolean USING total_cents > 0")
    db.execute("ALTER TABLE orders ADD COLUMN region text NOT NULL")
    db.execute("DROP TABLE order_log")

    problems = _problems(db, role=role[0])

    no_key = "no unique index or primary key on exactly (order_id): ON CONFLICT and the version guard need one"
    assert problems == [
        "order.created -> orders: column total_cents is boolean, which does not take payload.total_cents (integer)",
        f"order.created -> orders: {no_key}",
        "order.created -> orders: column region is NOT NULL without a default and the sink does not fill it",
        "order.created -> order_log: table public.order_log does not exist",
        (
            "order.cancelled -> orders: version column status_version is jsonb, which is not ordered: "
            "use a number, a date or time, text"
        ),
        "order.cancelled -> orders: column status_version is jsonb, which does not take occurred_at (datetime)",
        f"order.cancelled -> orders: {no_key}",
        f"order.deleted -> orders: {no_key}",
    ]


def test_a_role_without_the_privileges_its_modes_need_is_told_which_grant_is_missing(
    db: psycopg.Connection[Any],
) -> None:
    db.execute("DROP ROLE IF EXISTS sluice_check_reader")
    db.execute("CREATE ROLE sluice_check_reader")
    try:
        db.execute("GRANT SELECT, INSERT ON orders, payments, order_log TO sluice_check_reader")

        problems = _problems(db, role="sluice_check_reader")
    finally:
        db.execute("REVOKE ALL ON orders, payments, order_log FROM sluice_check_reader")
        db.execute("DROP ROLE sluice_check_reader")

    assert (
        "order.created -> orders: role sluice_check_reader may not UPDATE on public.orders: grant it UPDATE there"
        in problems
    )
    assert any("may not DELETE on public.orders" in problem for problem in problems)
    assert any("may not SELECT on sluice_sink_tombstones" in problem for problem in problems)
    assert not any("payments" in problem for problem in problems)
