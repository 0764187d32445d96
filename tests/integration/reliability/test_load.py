"""A small load run through the consumer handler: counts reconciled exactly, memory flat across batches.

5,000 sample events (2 % invalid, 2 % exact duplicates) in 20 Lambda-shaped batches, failures redelivered, against
a migrated database and a moto DLQ (``tests/integration/reliability/load.py``). The 100,000-event version with its
figures is ``tests/benchmarks/bench_load.py``. The memory bound is generous on purpose (allocator noise on a shared
machine); what it catches is a consumer keeping something per batch, which grows by megabytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import pytest
from pydantic import SecretStr

from sluice_cli.generate import generate_events
from sluice_consumer import runtime
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.settings import ConsumerSettings
from sluice_shared.catalog import CATALOG_MIGRATIONS, CATALOG_REGISTRY
from tests.integration.reliability.load import MIB, bodies_of, expected_outcome, run_load, stored_event_ids

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient

EVENTS: Final = 5_000
BATCH_SIZE: Final = 250
WARM_UP_BATCHES: Final = 5
MAX_GROWTH: Final = 32 * MIB


@pytest.fixture
def consumer(
    migrated_database_url: str,
    sqs_client: SQSClient,
    sqs_endpoint: str,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[ConsumerSettings, str]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    dlq_url = sqs_client.create_queue(QueueName=f"{unique_name}-dlq")["QueueUrl"]
    # The generated events are the sample catalog's, and some of the invalid ones break only its payload models;
    # its table sinks write its own tables too.
    apply_migrations(migrated_database_url, app_migrations=CATALOG_MIGRATIONS)
    settings = ConsumerSettings(
        database_url=SecretStr(migrated_database_url), dlq_url=dlq_url, payload_registry=CATALOG_REGISTRY
    )
    runtime.configure(settings)
    yield settings, dlq_url
    runtime.configure(None)


def test_five_thousand_events_reconcile_exactly_and_memory_stays_flat(
    consumer: tuple[ConsumerSettings, str], migrated_database_url: str, sqs_client: SQSClient
) -> None:
    settings, dlq_url = consumer
    bodies = bodies_of(generate_events(EVENTS, invalid_ratio=0.02, duplicate_ratio=0.02, seed=11))
    expected = expected_outcome(bodies, registry=settings.build_registry())

    run = run_load(bodies, batch_size=BATCH_SIZE)

    stored = stored_event_ids(migrated_database_url)
    attributes = sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    growth = run.growth(warm_up=WARM_UP_BATCHES)
    print(
        f"\n{EVENTS:,} events, {len(run.batches)} batches, {run.seconds:.2f} s; peak RSS growth {growth / MIB:+.1f} MiB"
    )
    assert (len(run.batches), run.deliveries, run.redriven) == (EVENTS // BATCH_SIZE, EVENTS, [])
    assert stored == dict.fromkeys(expected.stored, 1)
    assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == expected.dead_lettered == EVENTS * 0.02
    assert expected.duplicates == EVENTS * 0.02
    assert growth < MAX_GROWTH
