"""The checkout's health check on a real PostgreSQL: silent unless the server spoke to an idle connection."""

from __future__ import annotations

import select
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from sluice_consumer.liveness import check_idle_connection


def _last_query(admin: psycopg.Connection[Any], conn: psycopg.Connection[Any]) -> str:
    row = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (conn.info.backend_pid,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_connection_the_server_left_alone_passes_without_a_round_trip(migrated_database_url: str) -> None:
    with (
        psycopg.connect(migrated_database_url, autocommit=True) as admin,
        psycopg.connect(migrated_database_url, autocommit=True) as conn,
    ):
        conn.execute("SELECT 'last statement'")
        check_idle_connection(conn)
        assert _last_query(admin, conn) == "SELECT 'last statement'"  # nothing reached the server
        ConnectionPool.check_connection(conn)  # psycopg_pool's own check, for contrast: an empty query
        assert _last_query(admin, conn) == ""


def test_a_connection_terminated_while_idle_fails_the_check(migrated_database_url: str) -> None:
    with (
        psycopg.connect(migrated_database_url, autocommit=True) as admin,
        psycopg.connect(migrated_database_url, autocommit=True) as conn,
    ):
        # With a timeout it returns once the backend has exited, its FATAL message sent.
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (conn.info.backend_pid,))
        with pytest.raises(psycopg.OperationalError):
            check_idle_connection(conn)


def test_a_harmless_message_while_idle_is_answered_by_a_round_trip_and_passes(migrated_database_url: str) -> None:
    with (
        psycopg.connect(migrated_database_url, autocommit=True) as admin,
        psycopg.connect(migrated_database_url, autocommit=True) as conn,
    ):
        conn.execute("LISTEN sluice_liveness")
        admin.execute("NOTIFY sluice_liveness")
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 5.0)  # the notification reached conn's socket
        assert readable

        check_idle_connection(conn)

        assert _last_query(admin, conn) == ""  # the empty query decided, and the connection stays usable
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_closed_connection_fails_the_check(migrated_database_url: str) -> None:
    conn = psycopg.connect(migrated_database_url, autocommit=True)
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        check_idle_connection(conn)
