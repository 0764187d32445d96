"""Load benchmark: 100,000 events through the consumer handler in 100 Lambda-shaped batches, reconciled exactly.

Run: ``make bench`` or ``[SLUICE_TEST_DATABASE_URL=postgresql://...] .venv/bin/python tests/benchmarks/bench_load.py
[--events N] [--batch-size N]``. It creates a throwaway database with the real migrations and a dead-letter queue
on an in-process moto server, generates sample events (1 % invalid in the generator's five ways, 1 % exact
duplicates), and feeds them to ``sluice_consumer.handler.lambda_handler`` in batches of 1,000 records shaped like
AWS's SQS event sample, redelivering any reported failure (``tests/integration/reliability/load.py``). It prints
the peak RSS of every 10th batch, the growth from batch 10 to the last, the throughput, and the reconciliation:
every valid event id stored exactly once, every invalid body in the DLQ, nothing else.

The local pipeline is not used for volume: moto's cost per call grows with queue depth (~13 msg/s draining a
2,000-message backlog on the 2-core development machine), so its endpoint would measure moto. The handler's
INFO log line is silenced (100 lines of counts); everything else runs as deployed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from sluice_cli.generate import generate_events
from sluice_consumer import runtime
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.settings import ConsumerSettings
from sluice_consumer.telemetry import SERVICE
from sluice_shared.catalog import CATALOG_MIGRATIONS, CATALOG_REGISTRY

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.integration.reliability.load import (
    MIB,
    BatchFigure,
    bodies_of,
    expected_outcome,
    run_load,
    stored_event_ids,
)
from tests.support.bench import load_reported
from tests.support.postgres import DatabaseFactory, benchmark_server
from tests.support.sqs import FAKE_CREDENTIALS, moto_server

EVENTS: Final = 100_000
BATCH_SIZE: Final = 1_000
INVALID_RATIO: Final = 0.01
DUPLICATE_RATIO: Final = 0.01
SEED: Final = 20261126
WARM_UP_BATCHES: Final = 10
REPORT_EVERY: Final = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    options = parser.parse_args()
    # boto3 talks to the benchmark's own moto server with fake credentials, as the tests' fixtures arrange it;
    # Powertools' EMF lines (one per batch, nothing collects them here) are off, as in the local pipeline.
    os.environ.update({**FAKE_CREDENTIALS, "POWERTOOLS_METRICS_DISABLED": "true"})
    logging.getLogger(SERVICE).setLevel(logging.WARNING)
    with benchmark_server() as server, moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL_SQS"] = endpoint
        factory = DatabaseFactory(server, prefix="sluice_bench")
        try:
            return run(options.events, options.batch_size, factory=factory, endpoint=endpoint)
        finally:
            runtime.configure(None)
            factory.cleanup()


def _progress(figure: BatchFigure) -> None:
    if figure.number == 1 or figure.number % REPORT_EVERY == 0:
        print(
            f"  batch {figure.number:>4}: {figure.size:>6,} records {figure.seconds:6.3f} s  "
            f"peak RSS {figure.peak_rss / MIB:6.1f} MiB  retried {figure.retried}"
        )


def run(events: int, batch_size: int, *, factory: DatabaseFactory, endpoint: str) -> int:
    """Generate, consume, reconcile and print; 0 when the reconciliation is exact."""
    import boto3  # noqa: PLC0415 - after the fake credentials are in the environment

    database_url = factory.create()
    apply_migrations(database_url, app_migrations=CATALOG_MIGRATIONS)  # the catalog's sink tables
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    dlq_url = sqs.create_queue(QueueName=f"sluice-bench-load-{uuid.uuid4().hex[:8]}-dlq")["QueueUrl"]
    # The generated events are the sample catalog's: validate against it, as the demo does.
    settings = ConsumerSettings(
        database_url=SecretStr(database_url), dlq_url=dlq_url, payload_registry=CATALOG_REGISTRY
    )
    runtime.configure(settings)

    generated = generate_events(events, invalid_ratio=INVALID_RATIO, duplicate_ratio=DUPLICATE_RATIO, seed=SEED)
    bodies = bodies_of(generated)
    expected = expected_outcome(bodies, registry=settings.build_registry())
    print(
        f"{len(bodies):,} events: {expected.dead_lettered:,} invalid, {expected.duplicates:,} exact duplicates; "
        f"batches of {batch_size:,} records"
    )
    wall = time.perf_counter()
    result = run_load(bodies, batch_size=batch_size, on_batch=_progress)
    wall = time.perf_counter() - wall

    stored = stored_event_ids(database_url)
    attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    dead = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    twice = sum(1 for rows in stored.values() if rows > 1)
    exact = set(stored) == expected.stored and twice == 0 and dead == expected.dead_lettered and not result.redriven
    warm_up = min(WARM_UP_BATCHES, len(result.batches))
    print(
        f"{result.deliveries:,} deliveries in {len(result.batches)} batches: handler {result.seconds:.1f} s "
        f"({result.deliveries / result.seconds:,.0f} messages/s), wall {wall:.1f} s"
    )
    print(
        f"peak RSS per batch: batch {warm_up} {result.batches[warm_up - 1].peak_rss / MIB:.1f} MiB, last "
        f"{result.batches[-1].peak_rss / MIB:.1f} MiB, growth {result.growth(warm_up=warm_up) / MIB:+.1f} MiB, "
        f"highest {max(figure.peak_rss for figure in result.batches) / MIB:.1f} MiB"
    )
    print(
        f"reconciliation: {len(stored):,} event ids stored of {len(expected.stored):,} valid, {twice} stored twice, "
        f"{dead:,} in the DLQ of {expected.dead_lettered:,} invalid, {len(result.redriven)} redriven: "
        f"{'exact' if exact else 'MISMATCH'}"
    )
    return 0 if exact else 1


if __name__ == "__main__":
    with load_reported():
        status = main()
    sys.exit(status)
