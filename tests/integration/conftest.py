"""Integration fixtures: a real PostgreSQL (own databases per run) and a real SQS-compatible HTTP endpoint."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from tests.support.postgres import DatabaseFactory, NoDatabaseError, postgres_server
from tests.support.sqs import FAKE_CREDENTIALS, moto_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the PostgreSQL server under test (explicit URL, else testcontainers, else a clear failure)."""
    try:
        with postgres_server() as url:
            yield url
    except NoDatabaseError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def database_factory(postgres_url: str) -> Iterator[DatabaseFactory]:
    """Creates throwaway databases; every one is dropped when the session ends."""
    factory = DatabaseFactory(postgres_url)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="session")
def aws_environment() -> Iterator[None]:
    """Fake credentials and a fixed region for every boto3 client in the session."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_CREDENTIALS.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def sqs_endpoint(aws_environment: None) -> Iterator[str]:
    """URL of a moto server on loopback, shared by the session (queues get unique names per test)."""
    with moto_server() as url:
        yield url


@pytest.fixture
def sqs_client(sqs_endpoint: str) -> SQSClient:
    """A plain boto3 SQS client pointed at the test endpoint."""
    import boto3  # noqa: PLC0415

    return boto3.client("sqs", endpoint_url=sqs_endpoint)


@pytest.fixture
def unique_name() -> str:
    """A short unique name for queues and other per-test resources."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def migrated_database_url(database_factory: DatabaseFactory) -> str:
    """URL of a fresh database with every Sluice migration applied (dropped at the end of the session)."""
    from sluice_consumer.migrations import apply_migrations  # noqa: PLC0415 - only tests that need a schema

    url = database_factory.create()
    apply_migrations(url)
    return url
