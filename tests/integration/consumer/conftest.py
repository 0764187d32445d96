"""Consumer integration fixtures: the real handler wired to a migrated database and a moto DLQ."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from sluice_consumer import runtime
from sluice_consumer.roles import configure_writer_login, writer_conninfo
from sluice_consumer.settings import ConsumerSettings
from sluice_shared.dead_letter import DeadLetterReason

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_sqs import SQSClient


@pytest.fixture
def dlq_url(sqs_client: SQSClient, sqs_endpoint: str, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh dead-letter queue on the moto server; boto3's standard configuration points at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)
    return sqs_client.create_queue(QueueName=f"{unique_name}-dlq")["QueueUrl"]


@pytest.fixture
def writer_url(migrated_database_url: str) -> str:
    """The migrated database as ``sluice_writer``, the consumer's role, with a fresh password set by the owner."""
    password = secrets.token_urlsafe(24)
    configure_writer_login(migrated_database_url, password=password)
    return writer_conninfo(migrated_database_url, password)


@pytest.fixture
def configure_consumer(writer_url: str) -> Iterator[Callable[..., ConsumerSettings]]:
    """Configure the consumer runtime in-process, connected as ``sluice_writer`` as deployed (keyword arguments
    override settings)."""

    def configure(**overrides: Any) -> ConsumerSettings:
        settings = ConsumerSettings(database_url=writer_url, **overrides)
        runtime.configure(settings)
        return settings

    yield configure
    runtime.configure(None)


@pytest.fixture
def db(migrated_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the migrated database as its owner, for assertions and sabotage."""
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        yield conn


def receive_all(sqs_client: SQSClient, queue_url: str, expected: int) -> list[dict[str, Any]]:
    """Receive (and delete) messages until ``expected`` arrived or the queue stays empty."""
    messages: list[dict[str, Any]] = []
    for _ in range(20):
        response = sqs_client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        batch = response.get("Messages", [])
        for message in batch:
            sqs_client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        messages.extend(batch)  # type: ignore[arg-type]
        if len(messages) >= expected and not batch:
            break
    return messages


def dead_letters(sqs_client: SQSClient, dlq_url: str, expected: int) -> list[tuple[str, DeadLetterReason]]:
    """Receive (and delete) the DLQ's messages: each body with the reason the consumer attached."""
    letters = []
    for message in receive_all(sqs_client, dlq_url, expected=expected):
        reason = DeadLetterReason.from_attributes(message["MessageAttributes"])
        assert reason is not None, message
        letters.append((message["Body"], reason))
    return letters
