"""``sluice_writer`` on a real PostgreSQL: the consumer works as it, and everything else is refused to it.

Roles are cluster-wide while every test gets its own database, so the role these tests see may have been created
by another database's migration (another test, another run on the same server): exactly what the migration
must survive. The race from scratch runs on a uniquely named copy of the role, dropped at the end.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import sql

from sluice_cli.context import LocalContext
from sluice_consumer.handler import lambda_handler
from sluice_consumer.migration_files import available_migrations
from sluice_consumer.repository import CREATE_MIGRATIONS_TABLE
from sluice_consumer.roles import WriterLogin, set_writer_login
from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.roles import IAM_ROLE, WRITER_ROLE
from tests.integration.consumer.conftest import receive_all
from tests.support.events_table import COUNT_EVENTS
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_sqs import SQSClient

    from sluice_consumer.settings import ConsumerSettings
    from tests.support.postgres import DatabaseFactory

WRITER_MIGRATION: Final = next(m for m in available_migrations() if m.name == "0003_writer_role")
# Every statement the writer must be refused, each with something to refuse it on.
FORBIDDEN: Final = {
    "create table": "CREATE TABLE intruder (id int)",
    "create schema": "CREATE SCHEMA intruder",
    "create function": "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "alter table": "ALTER TABLE events ADD COLUMN intruder int",
    "drop table": "DROP TABLE events",
    "truncate": "TRUNCATE events",
    "delete": "DELETE FROM events",
    "update": "UPDATE events SET source = 'intruder'",
    "create index": "CREATE INDEX intruder ON events (source)",
    "rewrite the migration record": "DELETE FROM sluice_schema_migrations",
    "create a role": "CREATE ROLE intruder",
}
# pg_stat_activity is cluster-wide: other tests' consumers on this server show up too.
CONSUMER_SESSIONS: Final = (
    "SELECT usename FROM pg_stat_activity WHERE application_name = 'sluice-consumer' AND datname = current_database()"
)
COUNT_COLUMNS: Final = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'events'"


@pytest.fixture
def writer(writer_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection as ``sluice_writer``."""
    with psycopg.connect(writer_url, autocommit=True) as conn:
        yield conn


def _one(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]  # the test's own constant SQL
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_writer_is_a_plain_login_role_with_insert_and_select_on_events_only(db: psycopg.Connection[Any]) -> None:
    attributes = _one(
        db,
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit "
        "FROM pg_roles WHERE rolname = %s",
        (WRITER_ROLE,),
    )
    privileges = {
        (table, privilege): _one(db, "SELECT has_table_privilege(%s, %s, %s)", (WRITER_ROLE, table, privilege))
        for table in ("events", "sluice_schema_migrations")
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    }

    assert attributes == (True, False, False, False, False, False, True)
    assert {key for key, granted in privileges.items() if granted} == {
        ("events", "SELECT"),
        ("events", "INSERT"),
        ("sluice_schema_migrations", "SELECT"),
    }
    assert _one(db, "SELECT has_schema_privilege(%s, 'public', 'CREATE')", (WRITER_ROLE,)) is False
    assert _one(db, "SELECT has_database_privilege(%s, current_database(), 'CREATE')", (WRITER_ROLE,)) is False


def test_consumer_as_the_writer_stores_redelivers_and_dead_letters(
    configure_consumer: Callable[..., ConsumerSettings],
    db: psycopg.Connection[Any],
    dlq_url: str,
    sqs_client: SQSClient,
) -> None:
    configure_consumer(dlq_url=dlq_url)
    stored, poison = event_body(), event_body(occurred_at="2026-11-26T12:00:00")  # naive timestamp: permanent

    first = lambda_handler(sqs_event([stored, event_body(), poison]), LocalContext())
    redelivered = lambda_handler(sqs_event([stored], receive_count=2), LocalContext())

    assert first == redelivered == {"batchItemFailures": []}
    assert _one(db, COUNT_EVENTS) == 2
    assert _one(db, CONSUMER_SESSIONS) == WRITER_ROLE
    [message] = receive_all(sqs_client, dlq_url, expected=1)
    reason = DeadLetterReason.from_attributes(message["MessageAttributes"])
    assert message["Body"] == poison
    assert reason is not None
    assert reason.error_code == "invalid_message"


def test_writer_is_refused_every_statement_beyond_insert_and_select(
    configure_consumer: Callable[..., ConsumerSettings], writer: psycopg.Connection[Any], db: psycopg.Connection[Any]
) -> None:
    configure_consumer()
    assert lambda_handler(sqs_event([event_body()]), LocalContext()) == {"batchItemFailures": []}
    writer.execute("INSERT INTO events SELECT * FROM events WHERE false")  # what it may do works
    columns = _one(db, COUNT_COLUMNS)
    refused: dict[str, str] = {}

    for name, statement in FORBIDDEN.items():
        try:
            writer.execute(statement)  # type: ignore[arg-type]  # the test's own constant SQL
        except pg_errors.InsufficientPrivilege as exc:
            refused[name] = str(exc.sqlstate)

    assert refused == dict.fromkeys(FORBIDDEN, "42501")
    assert _one(db, COUNT_EVENTS) == 1
    assert _one(db, COUNT_COLUMNS) == columns


def test_migration_text_names_the_writer_role_the_code_uses() -> None:
    assert f"CREATE ROLE {WRITER_ROLE} LOGIN" in WRITER_MIGRATION.sql
    assert f"GRANT INSERT, SELECT ON events TO {WRITER_ROLE}" in WRITER_MIGRATION.sql


def test_migration_runs_again_without_error_and_changes_nothing(db: psycopg.Connection[Any]) -> None:
    acl_before = _one(db, "SELECT relacl::text FROM pg_class WHERE relname = 'events'")

    db.execute(WRITER_MIGRATION.sql)  # type: ignore[arg-type]  # a file shipped in the package
    db.execute(WRITER_MIGRATION.sql)  # type: ignore[arg-type]

    assert _one(db, "SELECT relacl::text FROM pg_class WHERE relname = 'events'") == acl_before


def test_concurrent_databases_create_the_role_once_and_each_grants_it(database_factory: DatabaseFactory) -> None:
    # given the migration for a role no one has created yet, and several fresh databases with the events table
    role = f"sluice_writer_{uuid.uuid4().hex[:8]}"
    text = WRITER_MIGRATION.sql.replace(WRITER_ROLE, role)
    events = next(m for m in available_migrations() if m.name == "0001_events").sql
    urls = [database_factory.create() for _ in range(3)]
    for url in urls:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(events)  # type: ignore[arg-type]  # a file shipped in the package
            conn.execute(CREATE_MIGRATIONS_TABLE)
    start = threading.Barrier(len(urls))
    errors: list[BaseException] = []

    def migrate(url: str) -> None:
        try:
            with psycopg.connect(url) as conn:
                start.wait(timeout=30)
                conn.execute(text)  # type: ignore[arg-type]  # the shipped file, role renamed
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    # when every database applies it at once
    threads = [threading.Thread(target=migrate, args=(url,)) for url in urls]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        # then none failed, the role exists once, and every database granted it
        assert errors == []
        grants = []
        for url in urls:
            with psycopg.connect(url) as conn:
                grants.append(_one(conn, "SELECT has_table_privilege(%s, 'events', 'INSERT')", (role,)))
                assert _one(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)) == 1
        assert grants == [True] * len(urls)
    finally:
        _drop_role(role, urls, database_factory.server_url)


def test_migration_refuses_a_writer_role_someone_made_superuser(database_factory: DatabaseFactory) -> None:
    role = f"sluice_writer_{uuid.uuid4().hex[:8]}"
    url = database_factory.create()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE").format(sql.Identifier(role)))
            conn.execute(next(m for m in available_migrations() if m.name == "0001_events").sql)  # type: ignore[arg-type]
            conn.execute(CREATE_MIGRATIONS_TABLE)

            with pytest.raises(pg_errors.RaiseException, match=f"role {role} exists with SUPERUSER, CREATEROLE"):
                conn.execute(WRITER_MIGRATION.sql.replace(WRITER_ROLE, role))  # type: ignore[arg-type]
    finally:
        _drop_role(role, [url], database_factory.server_url)


def test_on_rds_the_writer_joins_rds_iam_and_leaves_it_for_a_password(db: psycopg.Connection[Any]) -> None:
    # rds_iam exists only on RDS: created here inside a transaction that is rolled back, so no other database on
    # this server (cluster-wide roles) ever sees it.
    def member() -> bool:
        return bool(_one(db, "SELECT pg_has_role(%s, %s, 'MEMBER')", (WRITER_ROLE, IAM_ROLE)))

    with db.transaction(force_rollback=True):
        db.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(IAM_ROLE)))
        db.execute(WRITER_MIGRATION.sql)  # type: ignore[arg-type]  # as the migration would on RDS
        after_migration = member()
        with_password = set_writer_login(db, password="not-a-real-one")
        after_password = member()
        with_iam = set_writer_login(db, password=None)
        after_iam = member()

    assert (after_migration, after_password, after_iam) == (True, False, True)
    assert with_password == WriterLogin(password_set=True, iam=False)
    assert with_iam == WriterLogin(password_set=False, iam=True)


def test_writer_password_reaches_the_server_only_as_a_scram_verifier(db: psycopg.Connection[Any]) -> None:
    password = uuid.uuid4().hex

    with db.transaction(force_rollback=True):
        set_writer_login(db, password=password)
        stored = _one(db, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (WRITER_ROLE,))

    assert stored.startswith("SCRAM-SHA-256$")
    assert password not in stored


def _drop_role(role: str, urls: list[str], server_url: str) -> None:
    """Revoke what ``role`` was granted in each database (grants are per database), then drop it."""
    name = sql.Identifier(role)
    for url in urls:
        with psycopg.connect(url, autocommit=True) as conn:
            if _one(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)):
                conn.execute(sql.SQL("DROP OWNED BY {}").format(name))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(name))
