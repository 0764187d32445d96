"""Integration fixtures: a real PostgreSQL (own databases per run) and a real SQS-compatible HTTP endpoint.

PostgreSQL is provisioned once per run, before the first test (:func:`pytest_sessionstart`), the way ``make run``
finds it (``tests/support/postgres.py``); without one the run stops there with one line saying what was tried and
what to do. Under pytest-xdist the controller provisions it and hands its URL to the workers (a container or a
throwaway cluster: one per worker, see :func:`pytest_configure_node`); every server is stopped when the controller
ends, after every worker, also when the run is interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import os
import signal
import uuid
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Final

import pytest

from sluice_local.database import DatabaseKind
from tests.support.postgres import TEST_DATABASE_URL, DatabaseFactory, NoDatabaseError, masked_url, postgres_server
from tests.support.sqs import FAKE_CREDENTIALS, SQS_CLOCK, SqsClock, moto_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient

# The key under which pytest-xdist workers receive the server's URL from the controller.
WORKER_URL_KEY: Final = "sluice_postgres_url"
SERVER_URL = pytest.StashKey[str]()
SERVER_LINE = pytest.StashKey[str]()
SERVER_STACK = pytest.StashKey[ExitStack]()
SERVER_PROVISIONED = pytest.StashKey[bool]()
FIRST_WORKER: Final = "gw0"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Provision PostgreSQL before any test runs (a worker takes the controller's); stop the run if there is none."""
    config = session.config
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        config.stash[SERVER_URL] = workerinput[WORKER_URL_KEY]
        return
    stack = ExitStack()
    config.stash[SERVER_STACK] = stack
    _stop_on_sigterm(stack)
    try:
        database = stack.enter_context(postgres_server(os.environ.get(TEST_DATABASE_URL)))
    except NoDatabaseError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SERVER_URL] = database.url
    config.stash[SERVER_PROVISIONED] = database.kind is not DatabaseKind.EXPLICIT
    where = f", {database.where}" if database.where else ""
    config.stash[SERVER_LINE] = f"PostgreSQL: {database.kind.value} ({masked_url(database)}{where})"


def pytest_report_header(config: pytest.Config) -> str | None:
    return config.stash.get(SERVER_LINE, None)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: the first worker uses the server provisioned at session start; with a container or a
    throwaway cluster, each other worker gets one of its own. Roles are cluster-wide (the local pipeline sets
    ``sluice_writer``'s password at every start): on a password-checking server, workers sharing one would
    refuse each other's new connections. An explicit URL is shared by every worker."""
    config = node.config
    url = config.stash[SERVER_URL]
    if config.stash[SERVER_PROVISIONED] and node.gateway.id != FIRST_WORKER:
        url = config.stash[SERVER_STACK].enter_context(postgres_server(None)).url
    node.workerinput[WORKER_URL_KEY] = url


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(SERVER_STACK, None)
    if stack is not None:
        stack.close()


def _stop_on_sigterm(stack: ExitStack) -> None:
    """SIGTERM (a CI timeout, ``kill``) unwinds like Ctrl-C, so the server is stopped instead of left running."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    stack.callback(signal.signal, signal.SIGTERM, signal.SIG_DFL)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def postgres_url(pytestconfig: pytest.Config) -> str:
    """URL of the PostgreSQL server under test (provisioned at session start)."""
    return pytestconfig.stash[SERVER_URL]


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
def sqs_clock(sqs_endpoint: str) -> Iterator[SqsClock]:
    """The session moto's clock for visibility timeouts: advance it instead of sleeping; reset after the test."""
    try:
        yield SQS_CLOCK
    finally:
        SQS_CLOCK.reset()


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
