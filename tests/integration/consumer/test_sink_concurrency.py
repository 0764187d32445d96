"""Table sinks under concurrent invocations: two consumers (two Lambda execution environments) writing one key.

A standard queue's event source runs several batches at once. Upserts and updates of one key serialize on the
row itself (``ON CONFLICT DO UPDATE`` and ``UPDATE`` wait for the row's lock, then re-check the version guard on
the newest row), and the ``events`` ledger's primary key makes a twin delivered to two invocations wait for the
first. A delete does not: its tombstone and the upsert's tombstone check meet on no common row, so an upsert of
a key whose transaction is still open when a newer delete of that key commits (the delete sees no row and waits
for nothing) keeps its row; likewise, a delete that commits while an upsert waits on the row it deletes lets the
upsert insert the row again. The test below forces the first interleaving deterministically (a third session
holds a row lock that keeps the upsert's transaction open) and is expected to fail until deletes and upserts of
one key serialize.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pytest
from pydantic import SecretStr

from sluice_consumer.database import Database, build_credentials
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


def _wait_for_lock_wait(db: psycopg.Connection[Any]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    while db.execute(query).fetchone() != (1,):
        assert time.monotonic() < deadline, "the upsert's transaction never waited on the held row"
        time.sleep(0.02)


@pytest.mark.xfail(
    strict=True,
    reason="known race: an upsert whose transaction is open when a newer delete of its key commits keeps its row "
    "(the delete and the tombstone check share no lock); see the module doc",
)
def test_a_newer_delete_wins_over_an_upsert_whose_transaction_is_still_open(
    instances: tuple[Instance, Instance], migrated_database_url: str
) -> None:
    upserting, deleting = instances
    with psycopg.connect(migrated_database_url, autocommit=True) as db:
        # given an order x whose row a third session holds locked
        assert upserting.consume(created("x", at="2026-11-26T11:00:00+00:00")).response() == {"batchItemFailures": []}
        with psycopg.connect(migrated_database_url) as holder:
            holder.execute("UPDATE orders SET note = 'held' WHERE order_id = 'x'")
            # when one invocation upserts k (12:00) and then waits on x's row, its transaction still open
            results: list[BatchResult] = []
            batch = (created("k", at="2026-11-26T12:00:00+00:00"), cancelled("x", at="2026-11-26T12:00:00+00:00"))
            thread = threading.Thread(target=lambda: results.append(upserting.consume(*batch)))
            thread.start()
            try:
                _wait_for_lock_wait(db)
                # and another invocation deletes k (12:30, newer) and commits
                assert deleting.consume(deleted("k", at="2026-11-26T12:30:00+00:00")).response() == {
                    "batchItemFailures": []
                }
            finally:
                holder.rollback()
                thread.join(WAIT_SECONDS)
        assert [result.response() for result in results] == [{"batchItemFailures": []}]

        # then the newest event for k is the delete: no row, whatever the interleaving
        assert db.execute("SELECT order_id FROM orders ORDER BY order_id").fetchall() == [("x",)]
