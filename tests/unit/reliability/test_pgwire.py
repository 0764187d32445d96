"""The proxy's protocol decoder and pinning rules, on bytes and SQL text alone."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.support.pgproxy import PgProxy
from tests.support.pgwire import (
    CANCEL_REQUEST_CODE,
    SSL_REQUEST_CODE,
    InitialKind,
    PinningKind,
    PinningTrigger,
    ProtocolError,
    blank_sql,
    cleartext_password_request,
    decode_frontend,
    error_response,
    frame_messages,
    password_of,
    pinning_triggers,
    read_initial,
    startup_triggers,
)


def _message(kind: str, body: bytes) -> bytes:
    return kind.encode() + struct.pack("!i", len(body) + 4) + body


def _cstrings(*values: str) -> bytes:
    return b"".join(value.encode() + b"\x00" for value in values)


# --- first message ----------------------------------------------------------------------------------------


def test_ssl_request_is_recognised() -> None:
    initial = read_initial(struct.pack("!iI", 8, SSL_REQUEST_CODE))

    assert initial is not None
    assert initial.kind is InitialKind.SSL


def test_startup_message_yields_its_protocol_and_parameters() -> None:
    body = struct.pack("!I", 3 << 16) + _cstrings("user", "sluice", "database", "events", "") + b""
    raw = struct.pack("!i", len(body) + 4) + body

    initial = read_initial(raw + b"extra")

    assert initial is not None
    assert (initial.kind, initial.protocol, dict(initial.parameters)) == (
        InitialKind.STARTUP,
        (3, 0),
        {"user": "sluice", "database": "events"},
    )
    assert initial.raw == raw


def test_cancel_request_is_recognised() -> None:
    initial = read_initial(struct.pack("!iIii", 16, CANCEL_REQUEST_CODE, 1234, 5678))

    assert initial is not None
    assert initial.kind is InitialKind.CANCEL


def test_an_incomplete_first_message_waits_for_more() -> None:
    assert read_initial(struct.pack("!i", 8)) is None
    assert read_initial(struct.pack("!iI", 40, 3 << 16)) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x16\x03\x01\x02\x00", "TLS directly"),
        (struct.pack("!iI", 4, 3 << 16), "length 4"),
        (struct.pack("!iI", 8, 2 << 16), "protocol version 2.0"),
    ],
)
def test_a_first_message_that_is_not_postgresql_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        read_initial(data)


# --- typed messages -------------------------------------------------------------------------------------------


def test_framing_yields_complete_messages_and_keeps_a_partial_one() -> None:
    first, second = _message("Q", _cstrings("SELECT 1")), _message("S", b"")
    buffer = first + second + b"P\x00\x00"

    frames = list(frame_messages(buffer))

    assert [(chr(kind), buffer[start:end]) for kind, start, end in frames] == [
        ("Q", _cstrings("SELECT 1")),
        ("S", b""),
    ]
    assert frames[-1][2] == len(first) + len(second)


def test_a_length_below_four_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        list(frame_messages(b"Q\x00\x00\x00\x02"))


def test_parse_names_its_statement_and_sql() -> None:
    message = decode_frontend(ord("P"), _cstrings("_pg3_0", "SELECT $1") + struct.pack("!hI", 1, 23))

    assert (message.name, message.statement, message.sql, message.extended) == ("Parse", "_pg3_0", "SELECT $1", True)


@pytest.mark.parametrize(("formats", "binary"), [((), False), ((0,), False), ((1,), True), ((0, 1), True)])
def test_bind_reports_binary_parameters(formats: tuple[int, ...], binary: bool) -> None:
    body = _cstrings("", "") + struct.pack(f"!h{len(formats)}h", len(formats), *formats)

    message = decode_frontend(ord("B"), body + struct.pack("!h", 0) + struct.pack("!h", 0))

    assert (message.statement, message.portal, message.binary_parameters) == ("", "", binary)


@pytest.mark.parametrize(("target", "statement", "portal"), [("S", "stmt", None), ("P", None, "portal")])
def test_close_and_describe_name_a_statement_or_a_portal(
    target: str, statement: str | None, portal: str | None
) -> None:
    for kind in ("C", "D"):
        message = decode_frontend(ord(kind), target.encode() + _cstrings(statement or portal or ""))

        assert (message.statement, message.portal) == (statement, portal)


def test_a_truncated_message_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_frontend(ord("P"), b"name-without-terminator")


def test_password_messages_are_counted_but_never_decoded() -> None:
    message = decode_frontend(ord("p"), _cstrings("secret"))

    assert (message.name, message.sql) == ("PasswordMessage", None)


def test_the_password_request_and_answer_follow_the_protocol() -> None:
    assert cleartext_password_request() == _message("R", struct.pack("!i", 3))
    assert password_of(ord("p"), _cstrings("s3cret")) == "s3cret"
    assert password_of(ord("Q"), _cstrings("s3cret")) is None


def test_error_response_has_the_fields_libpq_reads() -> None:
    data = error_response(severity="FATAL", sqlstate="57P01", message="bye")

    assert data == _message("E", _cstrings("SFATAL", "VFATAL", "C57P01", "Mbye") + b"\x00")


# --- blanking ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "bodies"),
    [
        ("SELECT 'a;b' , \"Col\"", "SELECT '' , Col", ()),
        ("SELECT 'it''s'", "SELECT ''", ()),
        ("SELECT E'\\' SET x'", "SELECT ''", ()),
        ('SELECT "odd name"', 'SELECT ""', ()),
        ("SELECT 1 -- SET x\n, 2", "SELECT 1  , 2", ()),
        ("SELECT /* a /* nested */ SET */ 1", "SELECT   1", ()),
        ("SELECT $1, $2", "SELECT $1, $2", ()),
        ("DO $body$ BEGIN NULL; END $body$", "DO ''", (" BEGIN NULL; END ",)),
        ("SELECT 'unterminated", "SELECT ''", ()),
    ],
)
def test_blanking_removes_literals_identifiers_and_comments(text: str, code: str, bodies: tuple[str, ...]) -> None:
    assert blank_sql(text) == (code, bodies)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.text(st.characters(codec="utf-8", exclude_characters="\x00")))
def test_any_data_psycopg_quotes_as_a_literal_never_looks_like_a_trigger(data: str) -> None:
    # psycopg's own quoting (client-side binding, ClientCursor) of any text, hostile or not.
    literal = sql.Literal(data).as_string()

    assert pinning_triggers(f"INSERT INTO events (note) VALUES ({literal}); SELECT {literal}") == ()


# --- pinning rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SET search_path TO public", PinningKind.SET),
        ("set local statement_timeout = 1", PinningKind.SET),
        ("SET SESSION AUTHORIZATION bob", PinningKind.SET),
        ("BEGIN; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; COMMIT", PinningKind.SET),
        ("RESET ALL", PinningKind.SET),
        ("SELECT set_config('a', 'b', true)", PinningKind.SET_CONFIG),
        ("PREPARE q AS SELECT 1", PinningKind.PREPARED_STATEMENT),
        ("EXECUTE q", PinningKind.PREPARED_STATEMENT),
        ("DEALLOCATE ALL", PinningKind.PREPARED_STATEMENT),
        ("DISCARD TEMP", PinningKind.DISCARD),
        ("CREATE TEMP TABLE t (a int)", PinningKind.TEMPORARY_OBJECT),
        ("CREATE GLOBAL TEMPORARY TABLE t (a int)", PinningKind.TEMPORARY_OBJECT),
        ("CREATE OR REPLACE TEMP VIEW v AS SELECT 1", PinningKind.TEMPORARY_OBJECT),
        ("CREATE TEMPORARY SEQUENCE s", PinningKind.TEMPORARY_OBJECT),
        ("SELECT 1 INTO TEMP t", PinningKind.TEMPORARY_OBJECT),
        ("CREATE TABLE pg_temp.t (a int)", PinningKind.TEMPORARY_OBJECT),
        ("DECLARE c CURSOR FOR SELECT 1", PinningKind.CURSOR),
        ("LISTEN events", PinningKind.LISTEN),
        ("LOAD 'auto_explain'", PinningKind.LOAD),
        ("SELECT pg_advisory_lock(1)", PinningKind.ADVISORY_LOCK),
        ("SELECT pg_try_advisory_lock_shared(1, 2)", PinningKind.ADVISORY_LOCK),
        ("SELECT pg_advisory_unlock_all()", PinningKind.ADVISORY_LOCK),
        ("SELECT nextval('s')", PinningKind.SEQUENCE_FUNCTION),
        ("SELECT pg_catalog.setval('s', 1)", PinningKind.SEQUENCE_FUNCTION),
        ("SELECT \"currval\"('s')", PinningKind.SEQUENCE_FUNCTION),
        ("SELECT lastval ()", PinningKind.SEQUENCE_FUNCTION),
        ("CREATE TABLE t (id serial PRIMARY KEY)", PinningKind.SEQUENCE_DEFAULT),
        ("CREATE UNLOGGED TABLE t (id bigserial)", PinningKind.SEQUENCE_DEFAULT),
        ("ALTER TABLE t ADD COLUMN id int GENERATED BY DEFAULT AS IDENTITY", PinningKind.SEQUENCE_DEFAULT),
        ("DO $$ BEGIN PERFORM pg_advisory_lock(1); END $$", PinningKind.ADVISORY_LOCK),
        ("DO $$ BEGIN SET work_mem = '1MB'; END $$", PinningKind.SET),
    ],
)
def test_each_trigger_is_found(statement: str, kind: PinningKind) -> None:
    assert {trigger.kind for trigger in pinning_triggers(statement)} == {kind}


def test_a_cursor_with_hold_says_so() -> None:
    (trigger,) = pinning_triggers("DECLARE c CURSOR WITH HOLD FOR SELECT 1")

    assert trigger == PinningTrigger(PinningKind.CURSOR, "WITH HOLD: declare c cursor with hold for select 1")


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1",
        "UPDATE t SET a = 1",
        "ALTER TABLE t ALTER COLUMN a SET DEFAULT 0",
        "INSERT INTO t (settings, reset_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET settings = $1",
        "SELECT my_nextval(1), nextval_count FROM t",
        "SELECT 'SET x = 1', 'pg_advisory_lock(1)' -- LISTEN x",
        "/* CREATE TEMP TABLE x */ SELECT 1",
        "COPY events (event_id, payload) FROM STDIN (FORMAT BINARY)",
        "CREATE TABLE events (event_id uuid PRIMARY KEY, payload jsonb)",
        "BEGIN",
        "COMMIT",
        "",
    ],
)
def test_ordinary_statements_are_not_triggers(statement: str) -> None:
    assert pinning_triggers(statement) == ()


def test_details_show_the_statement_with_its_literals_blanked() -> None:
    (trigger,) = pinning_triggers("SELECT set_config('password', 'hunter2', false)")

    assert str(trigger) == "set_config: select set_config('', '', false)"


def test_startup_parameters_beyond_who_and_where_are_triggers() -> None:
    parameters = {
        "user": "u",
        "database": "d",
        "application_name": "sluice",
        "client_encoding": "UTF8",
        "_pq_.protocol_extension": "x",
        "options": "-c search_path=x",
        "DateStyle": "ISO",
    }

    assert [str(t) for t in startup_triggers(parameters)] == [
        "startup_parameter: options=-c search_path=x",
        "startup_parameter: DateStyle",
    ]


# --- addresses (no sockets needed) ------------------------------------------------------------------------------


def test_route_points_a_url_at_the_proxy_and_keeps_everything_else() -> None:
    proxy = PgProxy(upstream="db.internal:5432")
    proxy.port = 6543

    routed = proxy.route("postgresql://app:secret@db.internal:5432/events?sslmode=prefer&application_name=x")

    assert conninfo_to_dict(routed) == {
        "user": "app",
        "password": "secret",
        "host": "127.0.0.1",
        "port": "6543",
        "dbname": "events",
        "sslmode": "prefer",
        "application_name": "x",
    }


def test_upstream_must_be_host_and_port() -> None:
    with pytest.raises(ValueError, match="host:port"):
        PgProxy(upstream="localhost")
