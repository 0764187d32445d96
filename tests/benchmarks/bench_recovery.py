"""Recovery benchmark: seconds from the database accepting connections again to the consumer's first stored batch.

Run: ``make bench`` or ``[SLUICE_TEST_DATABASE_URL=postgresql://...] .venv/bin/python
tests/benchmarks/bench_recovery.py [--outages 5,60,360] [--interval 0.25]``.

For each outage length, two consumers write through the strict test proxy (tests/support/pgproxy/) to a
migrated throwaway database: a *warm* one that stored a batch before the outage, and a *cold* one whose
execution environment (its ``Database``, pool and store) is first created during the outage. Each invokes the
consumer's batch logic (``consume_batch`` over ``PostgresEventStore`` behind the schema gate, with a 3 s
function deadline, exactly what the handler calls) every ``--interval`` seconds. The proxy then refuses new
connections and drops open ones (a database restart) for the outage, and comes back. Printed per consumer:
how many invocations failed while the database was down and the slowest of them (they must fail fast, within
the deadline), and the seconds from recovery to the start and to the end of the first invocation that stored
its batch. The goal (issue: production defaults) is that the first invocation starting a second or more
after recovery stores its batch. The default outages (5 s, 60 s, 6 min) take about 7.5 minutes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from psycopg.conninfo import conninfo_to_dict

from sluice_cli.context import LocalContext
from sluice_consumer.credentials import UrlCredentials
from sluice_consumer.database import Database
from sluice_consumer.dead_letters import NoDeadLetterQueue
from sluice_consumer.deadline import Deadline
from sluice_consumer.logic import Disposition, consume_batch
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.records import SqsBatch
from sluice_consumer.schema import SchemaGate
from sluice_consumer.store import PostgresEventStore

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.bench import machine_load, spread
from tests.support.factories import event_body
from tests.support.pgproxy import PgProxy
from tests.support.postgres import DatabaseFactory, benchmark_server
from tests.unit.consumer.sqs_events import sqs_event

DEFAULT_OUTAGES: Final = (5.0, 60.0, 360.0)
DEFAULT_INTERVAL_S: Final = 0.25
FUNCTION_TIMEOUT_S: Final = 3.0
DEADLINE_MARGIN_MS: Final = 500
CONNECT_TIMEOUT_S: Final = 2.0
BATCH: Final = 5
# After recovery, give each consumer this long to store a batch before calling it a failure.
RECOVERY_LIMIT_S: Final = 60.0


@dataclass
class Invocation:
    started: float
    ended: float
    stored: bool


@dataclass
class Consumer:
    """One execution environment invoking the batch logic on a timer until told to stop."""

    name: str
    conninfo: str
    interval_s: float
    invocations: list[Invocation] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _database: Database | None = None
    _store: PostgresEventStore | None = None

    def environment(self) -> PostgresEventStore:
        if self._store is None:  # a cold start: the runtime's collaborators, built on first use
            self._database = Database(UrlCredentials(self.conninfo), connect_timeout_s=CONNECT_TIMEOUT_S)
            self._store = PostgresEventStore(self._database, schema_gate=SchemaGate())
        return self._store

    def invoke(self) -> Invocation:
        started = time.monotonic()
        deadline = Deadline.from_context(LocalContext(timeout_s=FUNCTION_TIMEOUT_S), margin_ms=DEADLINE_MARGIN_MS)
        result = consume_batch(
            SqsBatch.from_event(sqs_event([event_body() for _ in range(BATCH)])),
            store=self.environment(),
            dead_letters=NoDeadLetterQueue(),
            deadline=deadline,
        )
        stored = result.counts[Disposition.STORED] == BATCH
        invocation = Invocation(started, time.monotonic(), stored)
        self.invocations.append(invocation)
        return invocation

    def run(self) -> None:
        while not self.stop.is_set():
            self.invoke()
            self.stop.wait(self.interval_s)

    def close(self) -> None:
        if self._database is not None:
            self._database.close()


def measure(upstream_url: str, outage_s: float, interval_s: float) -> None:
    params = conninfo_to_dict(upstream_url)
    with PgProxy(upstream=f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}", strict=True) as proxy:
        conninfo = proxy.route(upstream_url)
        warm, cold = Consumer("warm", conninfo, interval_s), Consumer("cold", conninfo, interval_s)
        assert warm.invoke().stored, "the warm consumer could not store its first batch"
        threads = [threading.Thread(target=warm.run, daemon=True)]
        with proxy.outage():
            down_at = time.monotonic()
            threads[0].start()
            time.sleep(min(1.0, outage_s / 2))  # the cold environment starts while the database is down
            threads.append(threading.Thread(target=cold.run, daemon=True))
            threads[1].start()
            time.sleep(max(0.0, down_at + outage_s - time.monotonic()))
        recovered_at = time.monotonic()
        limit = recovered_at + RECOVERY_LIMIT_S
        while time.monotonic() < limit and not all(_first_stored(c, recovered_at) for c in (warm, cold)):
            time.sleep(0.05)
        for consumer in (warm, cold):
            consumer.stop.set()
        for thread in threads:
            thread.join()
        for consumer in (warm, cold):
            consumer.close()
            _report(consumer, outage_s, down_at, recovered_at)


def _first_stored(consumer: Consumer, recovered_at: float) -> Invocation | None:
    return next((i for i in consumer.invocations if i.stored and i.started >= recovered_at), None)


def _report(consumer: Consumer, outage_s: float, down_at: float, recovered_at: float) -> None:
    during = [i for i in consumer.invocations if down_at <= i.started < recovered_at]
    failed_during = [i for i in during if not i.stored]
    after = [i for i in consumer.invocations if i.started >= recovered_at]
    failed_after = [i for i in after if not i.stored and i.started < recovered_at + 1.0]
    late_failures = [i for i in after if not i.stored and i.started >= recovered_at + 1.0]
    first = _first_stored(consumer, recovered_at)
    if first is None:
        recovery = f"NO batch stored within {RECOVERY_LIMIT_S:.0f} s"
    else:
        started, ended = first.started - recovered_at, first.ended - recovered_at
        recovery = f"first stored batch: started +{started:.2f} s, committed +{ended:.2f} s"
    print(
        f"  outage {outage_s:>5.0f} s  {consumer.name:<4}  while down: {len(failed_during)}/{len(during)} failed, "
        f"duration {spread([i.ended - i.started for i in during], digits=3)} s;  {recovery};  "
        f"failed in the first second: {len(failed_after)};  failed later: {len(late_failures)}"
    )


def main() -> int:
    # psycopg_pool logs every failed attempt at WARNING; the figures below say what happened.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outages", default=",".join(f"{o:g}" for o in DEFAULT_OUTAGES), help="seconds, comma-separated"
    )
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S, help="seconds between invocations")
    args = parser.parse_args()
    outages = [float(value) for value in args.outages.split(",") if value.strip()]
    print(
        f"Recovery after a database outage (invocations every {args.interval:g} s, {FUNCTION_TIMEOUT_S:g} s deadline)"
    )
    print(f"  start: {machine_load()}")
    with benchmark_server() as server:
        factory = DatabaseFactory(server)
        try:
            url = factory.create()
            apply_migrations(url)
            for outage_s in outages:
                measure(url, outage_s, args.interval)
        finally:
            factory.cleanup()
    print(f"  end:   {machine_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
