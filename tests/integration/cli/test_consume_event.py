"""``sluice consume --event FILE`` runs the real handler against a real PostgreSQL and a moto DLQ."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import psycopg
import pytest

from sluice_cli.app import EXIT_FAILED, main
from tests.support.events_table import COUNT_EVENTS
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_sqs import SQSClient


def saved_event(tmp_path: Path, bodies: list[str]) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(sqs_event(bodies)), encoding="utf-8")
    return str(path)


def stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(COUNT_EVENTS).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def dlq(sqs_client: SQSClient, sqs_endpoint: str, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)
    return sqs_client.create_queue(QueueName=f"{unique_name}-dlq")["QueueUrl"]


def test_consume_prints_the_handler_response_and_dead_letters_the_poison(
    migrated_database_url: str, dlq: str, sqs_client: SQSClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = saved_event(tmp_path, [event_body(), "poison", event_body()])

    code = main(["consume", "--event", path, "--database-url", migrated_database_url, "--dlq-url", dlq])

    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out) == {"batchItemFailures": []}
    assert '"message":"batch consumed"' in captured.err  # the handler's log line, kept off stdout
    assert stored(migrated_database_url) == 2
    attributes = sqs_client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_consume_without_a_dlq_reports_the_failure_and_exits_1(
    migrated_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = saved_event(tmp_path, [event_body(), "poison"])

    code = main(["consume", "--event", path, "--database-url", migrated_database_url])

    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    assert json.loads(captured.out) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert "1 of 2 message(s) reported for retry" in captured.err


def test_consume_against_an_unreachable_database_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = saved_event(tmp_path, [event_body()])

    code = main(["consume", "--event", path, "--database-url", "postgresql://postgres@127.0.0.1:1/none"])

    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    [line] = captured.err.strip().splitlines()
    assert line.startswith("error: cannot connect to the database:")
    assert captured.out == ""
