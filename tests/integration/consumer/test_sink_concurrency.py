"""Table sinks under concurrent invocations: two consumers (two Lambda execution environments) writing one key.

A standard queue's event source runs several batches at once. Upserts and updates of one key serialize on the
row itself (``ON CONFLICT DO UPDATE`` and ``UPDATE`` wait for the row's lock, then re-check the version guard on
the newest row), and the ``events`` ledger's primary key makes a twin delivered to two invocations wait for the
first. A delete and an upsert of one key meet on the key's tombstone row: upserts and updates of a table with a
delete sink lock it before they write, a delete when it writes its tombstone (``sluice_consumer.sink_sql``), so
the second waits for the first and sees what it committed. Without that, an upsert whose transaction was still
open when a newer delete of its key committed kept its row. The test below forces that interleaving
deterministically: a third session holds a row lock that keeps the upsert's transaction open while the delete
runs.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pytest
from pydantic import SecretStr

from sluice_consumer.credentials import build_credentials
from sluice_consumer.database import Database
from sluice_consumer.dead_letters import NoDeadLetterQueue
from sluice_consumer.logic import BatchResult, consume_batch
from sluice_consumer.records import SqsBatch
from sluice_consumer.settings import ConsumerSettings
from sluice_consumer.store import PostgresEventStore
from sluice_shared.registry import load_registry
from tests.integration.consumer.test_sinks import cancelled, created, deleted
from tests.support.sink_registry import REGISTRY, TABLES
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sluice_shared.registry import PayloadRegistry

WAIT_SECONDS: Final = 10.0


class Instance:
    """One consumer execution environment: its own pool and its own registry (sinks are matched by identity)."""

    def __init__(self, url: str) -> None:
        self.registry: PayloadRegistry = load_registry(REGISTRY)
        self.store = PostgresEventStore(
            Database(build_credentials(ConsumerSettings(database_url=SecretStr(url)))),
            sinks=[sink for _type, _version, sink in self.registry.sinks],
        )

    def consume(self, *bodies: str) -> BatchResult:
        batch = SqsBatch.from_event(sqs_event(list(bodies)))
        return consume_batch(batch, store=self.store, dead_letters=NoDeadLetterQueue(), registry=self.registry)


@pytest.fixture
def instances(migrated_database_url: str, writer_url: str) -> Iterator[tuple[Instance, Instance]]:
    """Two consumers as ``sluice_writer`` (as deployed), granted what the sinks do."""
    with psycopg.connect(migrated_database_url, autocommit=True) as db:
        db.execute(TABLES)
        db.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON orders, payments, order_log TO sluice_writer")
    first, second = Instance(writer_url), Instance(writer_url)
    try:
        yield first, second
    finally:
        first.store.database.close()
        second.store.database.close()


def _wait_for_lock_waits(db: psycopg.Connection[Any], count: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    while db.execute(query).fetchone() != (count,):
        assert time.monotonic() < deadline, f"{count} sessions never waited on a lock at once"
        time.sleep(0.02)


def test_a_newer_delete_wins_over_an_upsert_whose_transaction_is_still_open(
    instances: tuple[Instance, Instance], migrated_database_url: str
) -> None:
    upserting, deleting = instances
    with psycopg.connect(migrated_database_url, autocommit=True) as db:
        # given an order x whose row a third session holds locked
        assert upserting.consume(created("x", at="2026-11-26T11:00:00+00:00")).response() == {"batchItemFailures": []}
        results: dict[str, BatchResult] = {}
        batch = (created("k", at="2026-11-26T12:00:00+00:00"), cancelled("x", at="2026-11-26T12:00:00+00:00"))
        threads = [
            threading.Thread(target=lambda: results.update(upsert=upserting.consume(*batch))),
            threading.Thread(
                target=lambda: results.update(delete=deleting.consume(deleted("k", at="2026-11-26T12:30:00+00:00")))
            ),
        ]
        with psycopg.connect(migrated_database_url) as holder:
            holder.execute("UPDATE orders SET note = 'held' WHERE order_id = 'x'")
            try:
                # when one invocation upserts k (12:00) and then waits on x's row, its transaction still open,
                threads[0].start()
                _wait_for_lock_waits(db, 1)
                # and another deletes k (12:30, newer) meanwhile: it waits for k's lock row, held by the first
                threads[1].start()
                _wait_for_lock_waits(db, 2)
            finally:
                holder.rollback()
                for thread in threads:
                    thread.join(WAIT_SECONDS)
        assert {name: result.response() for name, result in results.items()} == {
            "upsert": {"batchItemFailures": []},
            "delete": {"batchItemFailures": []},
        }

        # then the newest event for k is the delete: no row, whatever the interleaving
        assert db.execute("SELECT order_id FROM orders ORDER BY order_id").fetchall() == [("x",)]
