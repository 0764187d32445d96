"""Migrations against a real PostgreSQL: recorded, idempotent, safe concurrently; the deploy-time handler."""

from __future__ import annotations

import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from sluice_cli.context import LocalContext
from sluice_consumer import migrate, runtime
from sluice_consumer.migration_files import available_migrations
from sluice_consumer.migrations import MigrationChecksumError, apply_migrations
from sluice_consumer.settings import ConsumerSettings
from sluice_shared.errors import ConfigurationError, DatabaseUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.postgres import DatabaseFactory

EVENTS_COLUMNS = [
    ("event_id", "uuid"),
    ("event_type", "text"),
    ("source", "text"),
    ("occurred_at", "timestamp with time zone"),
    ("schema_version", "integer"),
    ("payload", "jsonb"),
    ("sqs_message_id", "text"),
    ("receive_count", "integer"),
    ("received_at", "timestamp with time zone"),
    ("content_digest", "bytea"),
]
# Every migration the package ships, in order, and the schema version they lead to.
SHIPPED = [migration.name for migration in available_migrations()]
LATEST = max(migration.version for migration in available_migrations())


@pytest.fixture
def empty_database(database_factory: DatabaseFactory) -> str:
    return database_factory.create()


@pytest.fixture
def _runtime_reset() -> Iterator[None]:
    yield
    runtime.configure(None)


def test_first_run_applies_every_migration_and_the_second_none(empty_database: str) -> None:
    assert apply_migrations(empty_database) == SHIPPED
    assert SHIPPED[:2] == ["0001_events", "0002_event_digest"]
    assert apply_migrations(empty_database) == []

    with psycopg.connect(empty_database) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'events' "
            "ORDER BY ordinal_position"
        ).fetchall()
        versions = conn.execute("SELECT version, name FROM sluice_schema_migrations").fetchall()
        sequences = conn.execute("SELECT count(*) FROM pg_sequences").fetchone()
    assert columns == EVENTS_COLUMNS
    assert versions == [(migration.version, migration.name) for migration in available_migrations()]
    assert sequences == (0,)  # nothing sequence-backed: no RDS Proxy pinning on the hot path


def test_concurrent_migrators_apply_each_migration_exactly_once(empty_database: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(apply_migrations(empty_database))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(results) == [[], [], [], SHIPPED]


def test_edited_migration_is_refused(empty_database: str) -> None:
    apply_migrations(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("UPDATE sluice_schema_migrations SET checksum = 'edited' WHERE version = 1")

    with pytest.raises(MigrationChecksumError, match="0001_events changed after it was applied"):
        apply_migrations(empty_database)


def test_unreachable_database_is_a_transient_error() -> None:
    with pytest.raises(DatabaseUnavailableError, match="cannot connect"):
        apply_migrations("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")


def test_invalid_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid database URL"):
        apply_migrations("postgresql://postgres@127.0.0.1/none?bogus=1")


@pytest.mark.usefixtures("_runtime_reset")
def test_deploy_time_handler_migrates_on_create_and_update_and_ignores_delete(empty_database: str) -> None:
    runtime.configure(ConsumerSettings(database_url=empty_database))  # type: ignore[arg-type]

    created = migrate.lambda_handler({"RequestType": "Create"}, LocalContext())
    updated = migrate.lambda_handler({"RequestType": "Update", "PhysicalResourceId": "p-1"}, LocalContext())
    deleted = migrate.lambda_handler({"RequestType": "Delete", "PhysicalResourceId": "p-1"}, LocalContext())
    trigger = migrate.lambda_handler({}, LocalContext())

    # No rds_iam on this server and no writer secret: the writer is left to IAM, which only RDS has.
    writer = "sluice_writer: no password set (trust or certificate authentication only)"
    assert created == {
        "PhysicalResourceId": migrate.PHYSICAL_RESOURCE_ID,
        "Data": {"Applied": ",".join(SHIPPED), "SchemaVersion": str(LATEST), "Writer": writer},
        "applied": SHIPPED,
        "schema_version": LATEST,
    }
    assert updated["Data"] == {"Applied": "", "SchemaVersion": str(LATEST), "Writer": writer}
    assert updated["PhysicalResourceId"] == "p-1"
    assert deleted == {"PhysicalResourceId": "p-1", "Data": {}}
    assert trigger["schema_version"] == LATEST
    json.dumps(created)  # the Provider framework serialises the response


@pytest.mark.usefixtures("_runtime_reset")
def test_deploy_time_handler_reads_credentials_from_secrets_manager(
    empty_database: str, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3  # noqa: PLC0415

    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)
    params = psycopg.conninfo.conninfo_to_dict(empty_database)
    # As RDS writes it; the password only matters where the server asks for one (testcontainers does).
    secret: dict[str, Any] = {
        "username": params["user"],
        "password": params.get("password") or "unused-with-trust-auth",
        "host": params.get("host", "127.0.0.1"),
        "port": int(params.get("port") or 5432),
        "dbname": params["dbname"],
    }
    arn = boto3.client("secretsmanager").create_secret(Name="sluice-db", SecretString=json.dumps(secret))["ARN"]
    runtime.configure(ConsumerSettings(db_secret_arn=arn, db_sslmode="disable"))  # type: ignore[arg-type]

    result = migrate.lambda_handler({"RequestType": "Create"}, LocalContext())

    assert result["applied"] == SHIPPED


@pytest.mark.usefixtures("_runtime_reset")
def test_deploy_time_handler_gives_the_writer_the_password_of_its_own_secret(
    empty_database: str, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3  # noqa: PLC0415

    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)
    password = uuid.uuid4().hex
    writer = json.dumps({"username": "sluice_writer", "password": password})
    arn = boto3.client("secretsmanager").create_secret(Name=f"writer-{uuid.uuid4().hex}", SecretString=writer)["ARN"]
    runtime.configure(ConsumerSettings(database_url=empty_database, db_writer_secret_arn=arn))  # type: ignore[arg-type]

    result = migrate.lambda_handler({"RequestType": "Create"}, LocalContext())

    assert result["Data"]["Writer"] == "sluice_writer: password set"
    with psycopg.connect(empty_database) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'sluice_writer'").fetchone()
    assert row is not None
    assert str(row[0]).startswith("SCRAM-SHA-256$")


@pytest.mark.usefixtures("_runtime_reset")
def test_deploy_time_handler_refuses_a_writer_secret_for_another_user(
    empty_database: str, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3  # noqa: PLC0415

    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)
    owner = json.dumps({"username": "sluice", "password": "the-owners"})
    arn = boto3.client("secretsmanager").create_secret(Name=f"writer-{uuid.uuid4().hex}", SecretString=owner)["ARN"]
    runtime.configure(ConsumerSettings(database_url=empty_database, db_writer_secret_arn=arn))  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError, match=r"is for 'sluice', not 'sluice_writer'"):
        migrate.lambda_handler({"RequestType": "Create"}, LocalContext())
