"""Fixtures for the local event source: queues built from a short test topology on the session's moto server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from sluice_local.event_source import EventSource, PollerConfig
from sluice_local.queues import create_queues
from sluice_shared.sqs import SqsQueue
from sluice_shared.topology import QueueTopology

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_sqs import SQSClient

    from sluice_local.event_source import Handler
    from sluice_local.queues import LocalQueues

# A 1 s consumer timeout without a batching window: a 6 s visibility timeout, so redelivery is quick.
TEST_TOPOLOGY = QueueTopology(consumer_timeout_seconds=1, batch_size=10, batching_window_seconds=0).validate()


@pytest.fixture
def queues(sqs_client: SQSClient, unique_name: str) -> LocalQueues:
    """A source queue and its DLQ, configured from the test topology."""
    return create_queues(sqs_client, name=unique_name, topology=TEST_TOPOLOGY)


@pytest.fixture
def event_source_for(sqs_client: SQSClient, queues: LocalQueues) -> Iterator[Callable[..., EventSource]]:
    """Builds event sources over ``queues``; every one started is stopped at the end of the test."""
    built: list[EventSource] = []

    def build(handler: Handler, **overrides: object) -> EventSource:
        config = PollerConfig.from_topology(queues.topology, poll_wait_seconds=1, **overrides)
        source = EventSource(SqsQueue(queues.queue_url, client=sqs_client), handler, config)
        built.append(source)
        return source

    yield build
    for source in built:
        source.stop(timeout=10)
