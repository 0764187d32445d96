"""The test proxy against a real PostgreSQL with plain psycopg: what it sees, what it flags, the faults it injects."""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from tests.support.pgproxy import PgProxy, PinningDetectedError
from tests.support.pgwire import GSSENC_REQUEST_CODE, SSL_REQUEST_CODE, PinningKind

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def table(proxied_database_url: str) -> Iterator[str]:
    """A fresh table ``(id int primary key, note text)``, created directly (not through a proxy)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(proxied_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, note text)").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(proxied_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))


def _ids(url: str, table: str) -> list[int]:
    """Read the table directly, bypassing every proxy."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(sql.SQL("SELECT id FROM {} ORDER BY id").format(sql.Identifier(table))).fetchall()
    return [row[0] for row in rows]


def _wait_until_running(url: str, query: str) -> None:
    """Wait (up to 10 s) until the server is executing ``query`` on some connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(1000):
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = %s", [query])
            if row.fetchone() == (1,):
                return
            time.sleep(0.01)
    raise AssertionError(f"the server never started {query!r}")


def _insert(table: str, row_id: int) -> sql.Composed:
    return sql.SQL("INSERT INTO {} (id, note) VALUES ({}, 'x')").format(sql.Identifier(table), sql.Literal(row_id))


# --- what the proxy sees ------------------------------------------------------------------------------------


def test_psycopg_passes_through_and_every_statement_is_recorded(pg_proxy: PgProxy, proxied_database_url: str) -> None:
    with psycopg.connect(pg_proxy.route(proxied_database_url), prepare_threshold=None) as conn:
        value = conn.execute("SELECT %s::int + 1", [41]).fetchone()

    report = pg_proxy.wait_for(lambda r: r.connections[0].closed_by == "client")
    assert value == (42,)
    assert "SELECT $1::int + 1" in report.sql
    assert report.extended_protocol_used
    assert report.named_statements == ()
    assert report.pinning == ()
    params = conninfo_to_dict(proxied_database_url)
    assert report.connections[0].startup_parameters == {"user": params["user"], "database": params["dbname"]}


def test_client_side_bound_copy_and_binary_parameters_pass_a_strict_proxy(
    pg_proxy: PgProxy, proxied_database_url: str, table: str
) -> None:
    # SQL-looking data inside literals is data: a client-side-bound INSERT carries it in the SQL text itself.
    hostile = "'; SET search_path TO evil; SELECT pg_advisory_lock(1); --"
    with psycopg.connect(pg_proxy.route(proxied_database_url), prepare_threshold=None) as conn:
        for row_id in range(10):  # well past psycopg's default prepare threshold of 5
            conn.execute(sql.SQL("INSERT INTO {} VALUES (%b, %b)").format(sql.Identifier(table)), [row_id, "b"])
        conn.cursor().executemany(
            sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(table)), [(10, "a"), (11, "b")]
        )
        psycopg.ClientCursor(conn).execute(
            sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(table)), [12, hostile]
        )
        with conn.cursor().copy(sql.SQL("COPY {} (id, note) FROM STDIN").format(sql.Identifier(table))) as copy:
            for row_id in range(13, 20):
                copy.write_row((row_id, hostile))
        conn.commit()

    report = pg_proxy.report()
    assert _ids(proxied_database_url, table) == list(range(20))
    assert report.pinning == ()
    assert report.named_statements == ()
    assert report.binary_parameters_used
    assert report.message_counts["CopyData"] >= 1
    assert any(hostile.replace("'", "''") in text for text in report.sql)


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SET statement_timeout = 1000", PinningKind.SET),
        ("BEGIN; SET LOCAL work_mem = '8MB'; COMMIT", PinningKind.SET),
        ("RESET ALL", PinningKind.SET),
        ("SELECT set_config('application_name', 'x', false)", PinningKind.SET_CONFIG),
        ("SELECT pg_advisory_lock(7)", PinningKind.ADVISORY_LOCK),
        ("SELECT pg_try_advisory_xact_lock(7)", PinningKind.ADVISORY_LOCK),
        ("CREATE TEMP TABLE scratch (id int)", PinningKind.TEMPORARY_OBJECT),
        ("CREATE TEMPORARY SEQUENCE scratch_seq", PinningKind.TEMPORARY_OBJECT),
        ("LISTEN sluice_channel", PinningKind.LISTEN),
        ("PREPARE p AS SELECT 1", PinningKind.PREPARED_STATEMENT),
        ("DISCARD ALL", PinningKind.DISCARD),
        ("SELECT nextval('pgproxy_seq')", PinningKind.SEQUENCE_FUNCTION),
        ("CREATE TABLE pgproxy_serial (id bigserial PRIMARY KEY)", PinningKind.SEQUENCE_DEFAULT),
        ("BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT", PinningKind.CURSOR),
        ("LOAD 'auto_explain'", PinningKind.LOAD),
    ],
)
def test_each_pinning_trigger_is_recorded(
    recording_proxy: PgProxy, proxied_database_url: str, statement: str, kind: PinningKind
) -> None:
    with psycopg.connect(proxied_database_url, autocommit=True) as direct:
        direct.execute("CREATE SEQUENCE IF NOT EXISTS pgproxy_seq")
        direct.execute("DROP TABLE IF EXISTS pgproxy_serial")
    with psycopg.connect(recording_proxy.route(proxied_database_url), autocommit=True) as conn:
        conn.execute(statement)

    assert recording_proxy.report().pinning_kinds() == {kind}


def test_named_prepared_statements_are_flagged_with_prepare_threshold_zero(
    recording_proxy: PgProxy, proxied_database_url: str
) -> None:
    with psycopg.connect(recording_proxy.route(proxied_database_url), prepare_threshold=0) as conn:
        conn.execute("SELECT %s::int", [1])

    report = recording_proxy.report()
    assert report.named_statements == ("_pg3_0",)
    assert report.pinning_kinds() == {PinningKind.NAMED_PREPARED_STATEMENT}


def test_default_psycopg_settings_prepare_a_statement_on_its_sixth_execution(
    recording_proxy: PgProxy, proxied_database_url: str
) -> None:
    with psycopg.connect(recording_proxy.route(proxied_database_url)) as conn:
        for value in range(5):
            conn.execute("SELECT %s::int", [value])
        prepared_after_five = recording_proxy.report().named_statements
        conn.execute("SELECT %s::int", [5])

    assert prepared_after_five == ()
    assert recording_proxy.report().named_statements == ("_pg3_0",)


def test_a_startup_option_that_sets_session_state_is_flagged(
    recording_proxy: PgProxy, proxied_database_url: str
) -> None:
    with psycopg.connect(recording_proxy.route(proxied_database_url), options="-c statement_timeout=5000") as conn:
        conn.execute("SELECT 1")

    report = recording_proxy.report()
    assert report.connections[0].startup_parameters["options"] == "-c statement_timeout=5000"
    assert [str(record.trigger) for record in report.pinning] == [
        "startup_parameter: options=-c statement_timeout=5000"
    ]


def test_a_strict_proxy_fails_the_connection_and_the_test_on_a_trigger(
    postgres_url: str, proxied_database_url: str
) -> None:
    proxy = PgProxy.for_server(postgres_url, strict=True).start()
    conn = psycopg.connect(proxy.route(proxied_database_url), autocommit=True)
    with pytest.raises(pg_errors.FeatureNotSupported, match="RDS Proxy would pin this session"):
        conn.execute("SET statement_timeout = 1000")
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")  # the proxy closed the connection
    conn.close()

    with pytest.raises(PinningDetectedError, match="set: set statement_timeout = 1000"):
        proxy.__exit__(None, None, None)


def test_a_strict_proxy_lets_allowed_kinds_through_and_records_them(
    postgres_url: str, proxied_database_url: str
) -> None:
    with psycopg.connect(proxied_database_url, autocommit=True) as direct:
        direct.execute("CREATE SEQUENCE IF NOT EXISTS pgproxy_seq")
    with PgProxy.for_server(postgres_url, strict=True, allow={PinningKind.SEQUENCE_FUNCTION}) as proxy:
        with psycopg.connect(proxy.route(proxied_database_url), autocommit=True) as conn:
            conn.execute("SELECT nextval('pgproxy_seq')")
        report = proxy.report()

    assert [(record.trigger.kind, record.enforced) for record in report.pinning] == [
        (PinningKind.SEQUENCE_FUNCTION, False)
    ]


def test_cancel_requests_reach_the_server(recording_proxy: PgProxy, proxied_database_url: str) -> None:
    with psycopg.connect(recording_proxy.route(proxied_database_url), autocommit=True) as conn:

        def cancel_once_running() -> None:
            _wait_until_running(proxied_database_url, "SELECT pg_sleep(30)")
            conn.cancel_safe()

        canceller = threading.Thread(target=cancel_once_running)
        canceller.start()
        with pytest.raises(pg_errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(30)")
        canceller.join()

    assert recording_proxy.report().cancel_requests == 1


def test_encryption_requests_are_declined_so_the_client_carries_on_in_plaintext(recording_proxy: PgProxy) -> None:
    with socket.create_connection((recording_proxy.host, recording_proxy.port), timeout=5) as raw:
        raw.sendall(struct.pack("!iI", 8, GSSENC_REQUEST_CODE))
        gss_answer = raw.recv(1)
        raw.sendall(struct.pack("!iI", 8, SSL_REQUEST_CODE))
        ssl_answer = raw.recv(1)

    assert (gss_answer, ssl_answer) == (b"N", b"N")


def test_a_client_opening_tls_directly_is_closed_with_the_reason_recorded(recording_proxy: PgProxy) -> None:
    with socket.create_connection((recording_proxy.host, recording_proxy.port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01\x00\x05hello")
        closed = raw.recv(1)

    report = recording_proxy.wait_for(lambda r: bool(r.connections) and r.connections[0].closed_by is not None)
    assert closed == b""
    assert report.connections[0].closed_by == (
        "proxy: ProtocolError: the client opened TLS directly (sslnegotiation=direct); the test proxy speaks plaintext"
    )


# --- faults ----------------------------------------------------------------------------------------------


def test_dropping_a_connection_mid_transaction_loses_its_uncommitted_work(
    recording_proxy: PgProxy, proxied_database_url: str, table: str
) -> None:
    url = recording_proxy.route(proxied_database_url)
    with psycopg.connect(url) as busy, psycopg.connect(url, autocommit=True) as idle:
        busy.execute(_insert(table, 1))
        idle.execute("SELECT 1")

        dropped = recording_proxy.drop_connections(in_transaction_only=True)

        with pytest.raises(psycopg.OperationalError):
            busy.execute(_insert(table, 2))
        assert idle.execute("SELECT 2").fetchone() == (2,)
    assert dropped == 1
    assert _ids(proxied_database_url, table) == []


def test_drop_on_a_statement_stops_it_before_the_server(
    recording_proxy: PgProxy, proxied_database_url: str, table: str
) -> None:
    recording_proxy.drop_on(r"INSERT INTO")
    with psycopg.connect(recording_proxy.route(proxied_database_url)) as conn, pytest.raises(psycopg.OperationalError):
        conn.execute(_insert(table, 1))

    assert _ids(proxied_database_url, table) == []
    # A statement without parameters goes as a simple-protocol Query.
    expected = f"proxy: dropped before Query (INSERT INTO \"{table}\" (id, note) VALUES (1, 'x'))"
    assert recording_proxy.report().connections[0].closed_by == expected


def test_drop_after_the_reply_to_commit_leaves_the_client_unsure_but_the_work_committed(
    recording_proxy: PgProxy, proxied_database_url: str, table: str
) -> None:
    recording_proxy.drop_on(r"^COMMIT$", after_reply=True)
    with psycopg.connect(recording_proxy.route(proxied_database_url)) as conn:
        conn.execute(_insert(table, 1))
        with pytest.raises(psycopg.OperationalError):
            conn.commit()

    assert _ids(proxied_database_url, table) == [1]


def test_drop_after_a_number_of_messages(recording_proxy: PgProxy, proxied_database_url: str) -> None:
    with psycopg.connect(recording_proxy.route(proxied_database_url), autocommit=True) as conn:
        conn.execute("SELECT 1")  # no parameters: one Query message
        recording_proxy.drop_after(2)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT %s::int", [2])  # Parse, Bind forwarded; the connection drops at Describe

    # PasswordMessages are the login's own when the server checks passwords (SCRAM sends two)
    counts = {
        name: count for name, count in recording_proxy.report().message_counts.items() if name != "PasswordMessage"
    }
    assert counts == {"Query": 1, "Parse": 1, "Bind": 1, "Describe": 1}


def test_a_fatal_error_before_the_drop_raises_its_sqlstate_in_the_client(
    recording_proxy: PgProxy, proxied_database_url: str
) -> None:
    with psycopg.connect(recording_proxy.route(proxied_database_url), autocommit=True) as conn:
        conn.execute("SELECT 1")
        recording_proxy.drop_connections(sqlstate="57P01")
        with pytest.raises(pg_errors.AdminShutdown):
            conn.execute("SELECT 1")


def test_a_stall_holds_every_byte_until_it_ends(recording_proxy: PgProxy, proxied_database_url: str) -> None:
    with psycopg.connect(recording_proxy.route(proxied_database_url), autocommit=True) as conn:
        result: list[Any] = []
        recording_proxy.stall(60)
        query = threading.Thread(target=lambda: result.append(conn.execute("SELECT 7").fetchone()))
        query.start()
        query.join(0.5)
        held = query.is_alive()
        recording_proxy.resume()
        query.join()

    assert held
    assert result == [(7,)]


def test_a_cancel_can_pass_a_stall_and_the_answer_waits_for_its_end(
    recording_proxy: PgProxy, proxied_database_url: str
) -> None:
    with psycopg.connect(recording_proxy.route(proxied_database_url), autocommit=True) as conn:
        outcome: list[BaseException] = []

        def sleep() -> None:
            try:
                conn.execute("SELECT pg_sleep(30)")
            except psycopg.Error as exc:
                outcome.append(exc)

        query = threading.Thread(target=sleep)
        query.start()
        _wait_until_running(proxied_database_url, "SELECT pg_sleep(30)")  # a cancel only stops a running query
        recording_proxy.stall(60, let_cancels_through=True)
        conn.cancel_safe(timeout=5)
        query.join(0.3)
        held = query.is_alive()
        recording_proxy.resume()
        query.join()

    assert held
    assert [type(exc) for exc in outcome] == [pg_errors.QueryCanceled]


def test_a_stall_makes_a_new_connection_time_out(recording_proxy: PgProxy, proxied_database_url: str) -> None:
    recording_proxy.stall(60)
    try:
        # libpq's connect_timeout is whole seconds, at least 2.
        with pytest.raises(psycopg.OperationalError, match="timeout"):
            psycopg.connect(recording_proxy.route(proxied_database_url), connect_timeout=2)
    finally:
        recording_proxy.resume()


def test_refusing_stops_new_connections_only_until_told_otherwise(
    recording_proxy: PgProxy, proxied_database_url: str
) -> None:
    url = recording_proxy.route(proxied_database_url)
    with psycopg.connect(url, autocommit=True) as open_before:
        recording_proxy.refuse(True)
        with pytest.raises(psycopg.OperationalError, match="refused"):
            psycopg.connect(url)
        still_working = open_before.execute("SELECT 1").fetchone()
        recording_proxy.refuse(False)
        with psycopg.connect(url, autocommit=True) as open_after:
            accepted_again = open_after.execute("SELECT 2").fetchone()

    assert (still_working, accepted_again) == ((1,), (2,))


def test_closing_idle_connections_is_survived_by_a_pool_that_checks_on_checkout(
    pg_proxy: PgProxy, proxied_database_url: str
) -> None:
    with ConnectionPool(
        pg_proxy.route(proxied_database_url),
        kwargs={"prepare_threshold": None},
        min_size=1,
        max_size=1,
        open=True,
        check=ConnectionPool.check_connection,
    ) as pool:
        with pool.connection() as conn:
            conn.execute("SELECT 1")

        closed = pg_proxy.close_idle()

        with pool.connection() as conn:
            after = conn.execute("SELECT 2").fetchone()

    assert closed == 1
    assert after == (2,)
    assert pg_proxy.report().connections[0].closed_by == "proxy: idle client connection closed"


def test_the_idle_client_timeout_closes_connections_left_idle(postgres_url: str, proxied_database_url: str) -> None:
    with PgProxy.for_server(postgres_url, idle_client_timeout=0.2) as proxy:
        conn = psycopg.connect(proxy.route(proxied_database_url), autocommit=True)
        conn.execute("SELECT 1")
        proxy.wait_for(lambda r: r.connections[0].closed_by is not None)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()


def test_an_outage_ends_every_session_and_refuses_connections_until_it_is_over(
    recording_proxy: PgProxy, proxied_database_url: str
) -> None:
    url = recording_proxy.route(proxied_database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        with recording_proxy.outage():
            with pytest.raises(pg_errors.AdminShutdown):
                conn.execute("SELECT 1")
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(url)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT 3").fetchone() == (3,)


def test_an_unreachable_upstream_is_reported_to_the_client(proxied_database_url: str) -> None:
    # Port 1 on loopback: nothing listens there.
    with (
        PgProxy(upstream="127.0.0.1:1") as proxy,
        pytest.raises(psycopg.OperationalError, match="upstream unreachable"),
    ):
        psycopg.connect(proxy.route(proxied_database_url))


def test_a_password_rotation_refuses_the_old_password_to_new_connections_only(
    recording_proxy: PgProxy, proxied_database_url: str
) -> None:
    url = recording_proxy.route(proxied_database_url)
    recording_proxy.require_password("old-secret")
    with psycopg.connect(url, password="old-secret", autocommit=True) as before:
        recording_proxy.require_password("new-secret")

        with pytest.raises(psycopg.OperationalError, match="password authentication failed") as refused:
            psycopg.connect(url, password="old-secret")
        still_open = before.execute("SELECT 1").fetchone()
        with psycopg.connect(url, password="new-secret", autocommit=True) as after:
            rotated = after.execute("SELECT 2").fetchone()

    # libpq says a password was sent and refused: what the consumer reads to refresh its secret.
    assert refused.value.pgconn is not None
    assert refused.value.pgconn.used_password
    assert (still_open, rotated) == ((1,), (2,))
    assert "old-secret" not in recording_proxy.report().summary()
