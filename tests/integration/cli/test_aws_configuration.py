"""The CLI reaches a queue with only ``AWS_REGION`` set, and a queue URL or ARN says where the queue is.

Against the moto server, with every ``AWS_*`` variable removed except fake credentials: moto keeps queues per
region, so a call signed for the wrong region finds no queue. Queues are created in eu-west-1, a region no
default would pick.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

import boto3
import psycopg
import pytest

from sluice_cli.app import EXIT_USAGE, main
from sluice_shared.aws import NO_REGION_MESSAGE
from tests.support.aws import clear_aws_environment
from tests.support.events_table import COUNT_EVENTS
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_sqs import SQSClient

REGION: Final = "eu-west-1"
MOTO_ACCOUNT: Final = "123456789012"


@pytest.fixture(autouse=True)
def _only_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_aws_environment(monkeypatch, tmp_path)


@pytest.fixture
def regional_client(sqs_endpoint: str) -> SQSClient:
    """A client of the test endpoint in eu-west-1, given everything explicitly."""
    return boto3.client("sqs", endpoint_url=sqs_endpoint, region_name=REGION)


@pytest.fixture
def queue_url(regional_client: SQSClient, unique_name: str) -> str:
    url = regional_client.create_queue(QueueName=unique_name)["QueueUrl"]
    assert url.startswith("http://127.0.0.1:")  # moto serves queue URLs on its own host
    return url


def depth(client: SQSClient, url: str) -> int:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_push_with_only_aws_region_and_a_local_queue_url_needs_no_other_option(
    monkeypatch: pytest.MonkeyPatch, queue_url: str, regional_client: SQSClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # given no region at all: the error says what to set
    argv = ["push", "--generate", "3", "--seed", "7", "--queue-url", queue_url]
    assert main(argv) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == f"error: {NO_REGION_MESSAGE}"

    # when doing what it says
    monkeypatch.setenv("AWS_REGION", REGION)
    code = main(argv)

    # then the queue URL gave the endpoint, AWS_REGION the region
    assert (code, capsys.readouterr().err) == (0, "")
    assert depth(regional_client, queue_url) == 3


def test_dlq_stats_with_only_aws_region(
    monkeypatch: pytest.MonkeyPatch, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)

    code = main(["dlq", "stats", "--queue", queue_url, "--json"])

    assert code == 0
    assert json.loads(capsys.readouterr().out)["queue"] == queue_url.rsplit("/", 1)[-1]


def test_a_queue_arn_gives_the_region_with_no_region_variable(
    sqs_endpoint: str, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = f"arn:aws:sqs:{REGION}:{MOTO_ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}"

    code = main(["dlq", "stats", "--queue", arn, "--endpoint-url", sqs_endpoint, "--json"])

    assert (code, capsys.readouterr().err) == (0, "")


def test_consume_dead_letters_with_only_aws_region(  # noqa: PLR0917 - pytest fixtures
    monkeypatch: pytest.MonkeyPatch,
    migrated_database_url: str,
    queue_url: str,
    regional_client: SQSClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sqs_event([event_body(), "poison"])), encoding="utf-8")

    code = main(["consume", "--event", str(event), "--database-url", migrated_database_url, "--dlq-url", queue_url])

    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"batchItemFailures": []}
    assert depth(regional_client, queue_url) == 1
    with psycopg.connect(migrated_database_url) as conn:
        assert conn.execute(COUNT_EVENTS).fetchone() == (1,)
