"""The schema gate on real PostgreSQL: code newer than the schema retries its batches, dead-letters nothing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from sluice_cli.context import LocalContext
from sluice_consumer import runtime
from sluice_consumer.handler import lambda_handler
from sluice_consumer.migration_files import shipped_versions
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.schema import SchemaGate
from sluice_consumer.settings import ConsumerSettings
from sluice_shared.errors import SchemaBehindError
from tests.integration.consumer.conftest import receive_all
from tests.support.events_table import COUNT_EVENTS
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient

    from tests.support.postgres import DatabaseFactory


@pytest.fixture
def empty_database_url(database_factory: DatabaseFactory) -> Iterator[str]:
    url = database_factory.create()
    yield url
    runtime.configure(None)


def _behind_warnings(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    return [
        vars(record)
        for record in records
        if record.levelno == logging.WARNING and record.getMessage().startswith("database schema is behind")
    ]


def test_code_ahead_of_the_schema_retries_every_message_until_the_migrations_ran(
    empty_database_url: str, dlq_url: str, sqs_client: SQSClient, caplog: pytest.LogCaptureFixture
) -> None:
    # given new consumer code on a database whose migrations have not run yet (a deploy in the wrong order)
    runtime.configure(ConsumerSettings(database_url=empty_database_url, dlq_url=dlq_url))
    batch = sqs_event([event_body(), event_body(), event_body()])
    everything = {"batchItemFailures": [{"itemIdentifier": f"m{index}"} for index in range(3)]}

    # when two invocations arrive before the migrations
    first = lambda_handler(batch, LocalContext())
    second = lambda_handler(batch, LocalContext())

    # then both retry the whole batch, nothing is dead-lettered, and the cold start logged it once
    assert first == second == everything
    assert receive_all(sqs_client, dlq_url, expected=0) == []
    [warning] = _behind_warnings(caplog.records)
    assert warning["missing_migrations"] == sorted(shipped_versions())
    assert f"this code needs version {max(shipped_versions())}" in warning["error"]
    assert "schema is at version 0" in warning["error"]

    # when the migrations run, then the next invocation stores the batch
    apply_migrations(empty_database_url)
    assert lambda_handler(batch, LocalContext()) == {"batchItemFailures": []}
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute(COUNT_EVENTS).fetchone() == (3,)


def test_gate_names_the_applied_and_the_needed_version(migrated_database_url: str) -> None:
    # given a database with every shipped migration, and code that would need one more
    newest = max(shipped_versions())
    gate = SchemaGate([*shipped_versions(), newest + 1])

    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        with pytest.raises(SchemaBehindError) as caught:
            gate.ensure(conn)
        assert caught.value.missing == (newest + 1,)
        assert f"at version {newest} but this code needs version {newest + 1}" in caught.value.message

        # and a gate whose versions are all applied passes once and never queries again
        current = SchemaGate()
        current.ensure(conn)
        assert current.passed
