"""End-to-end fixtures: a whole local pipeline per test on its own database, with short timeouts.

Each pipeline gets a fresh database on the test server (faster than a throwaway cluster per test; the cluster
path has its own test), a uniquely named queue pair on an embedded moto server, the real consumer and, unless a
test replaces it, the real ingest function.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from sluice_local.pipeline import LocalPipeline, PipelineConfig
from sluice_shared.topology import QueueTopology

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.support.postgres import DatabaseFactory

# A 1 s consumer timeout and no batching window: a 6 s visibility timeout, so redelivery is quick.
E2E_TOPOLOGY = QueueTopology(consumer_timeout_seconds=1, batch_size=10, batching_window_seconds=0).validate()
E2E_FIFO_TOPOLOGY = QueueTopology(
    consumer_timeout_seconds=1, batch_size=10, batching_window_seconds=0, fifo=True
).validate()
DRAIN_TIMEOUT_SECONDS = 90


@pytest.fixture
def start_pipeline(database_factory: DatabaseFactory, aws_environment: None) -> Iterator[Callable[..., LocalPipeline]]:
    """Starts local pipelines; every one is stopped at the end of the test."""
    started: list[LocalPipeline] = []

    def start(**overrides: Any) -> LocalPipeline:
        config = PipelineConfig(database_url=database_factory.create(), topology=E2E_TOPOLOGY, poll_wait_seconds=1)
        pipeline = LocalPipeline(config, **overrides)
        started.append(pipeline)
        return pipeline.start()

    yield start
    for pipeline in started:
        pipeline.stop()


def rows(pipeline: LocalPipeline, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one query against the pipeline's database."""
    with psycopg.connect(pipeline.database_url) as conn:
        return conn.execute(query, params).fetchall()


def drain(pipeline: LocalPipeline) -> None:
    """Wait until the source queue is empty and no batch is running."""
    pipeline.wait_until_drained(DRAIN_TIMEOUT_SECONDS)


def receive_all(pipeline: LocalPipeline, queue_url: str) -> list[dict[str, Any]]:
    """Every message currently in ``queue_url`` (received once each, with all attributes)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        batch = pipeline.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return found
        found.extend(batch)  # type: ignore[arg-type]
    return found
