"""Table sinks benchmark: events plus one typed sink table, batch 1,000, against plain COPY into both tables.

Run: ``make bench`` or ``[SLUICE_TEST_DATABASE_URL=postgresql://...] .venv/bin/python tests/benchmarks/bench_sinks.py``.
It creates a throwaway database, applies the real migrations, creates typed ``orders`` tables and, in each
repetition, writes a fresh batch of 1,000 ``order.created`` events with each strategy, interleaved so that
they share the machine's noise:

- ``COPY``: plain text ``COPY events`` (the event data, as ``bench_write_path`` times it) and plain text
  ``COPY`` of the sink rows into their table, in one transaction (not idempotent, no version guard);
- ``events only``: the same events without any sink (today's path: one binary ``COPY``, autocommit), for
  the sink's share of the time;
- ``insert``: ``PostgresEventStore.store`` exactly as the handler calls it, with an insert-mode sink
  (``ON CONFLICT (order_id) DO NOTHING``): events and sink rows in one transaction;
- ``upsert``: the same with an upsert-mode sink, versioned by ``occurred_at`` (new keys: the insert path of
  ``ON CONFLICT DO UPDATE``);
- ``upsert, existing``: newer events for the keys ``upsert`` just wrote (every row updated);
- ``upsert, guarded``: an upsert sink whose table also has a delete sink, so each row consults the tombstones.

Events are parsed and mapped to rows outside the timed region (the handler's parse costs the same with or
without sinks; ``bench_write_path`` times the handler end to end). Printed: milliseconds per batch as
median [min..max], events/s (each event is one ``events`` row and one sink row), and the paired ratio per
repetition (COPY's time / the strategy's time in the same repetition: above 1 is faster than COPY) as median
[min..max], against the issue's goals: 0.5 for insert, 0.35 for upsert. The machine's load is printed at the
start and the end.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import sql
from pydantic import BaseModel

from sluice_consumer.credentials import UrlCredentials
from sluice_consumer.database import Database
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.records import SqsBatch
from sluice_consumer.rows import event_row
from sluice_consumer.sink_mapping import sink_writes
from sluice_consumer.store import PostgresEventStore
from sluice_shared.contract import parse_message
from sluice_shared.sinks import ColumnSource, Sink, SinkMode, computed

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.bench import machine_load, spread
from tests.support.events_table import COPY_EVENTS, event_data
from tests.support.postgres import DatabaseFactory, benchmark_server

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sluice_consumer.ports import EventRow
    from sluice_consumer.sink_mapping import SinkWrite

BATCH: Final = 1000
REPETITIONS: Final = 21
WARM_UPS: Final = 2
GOALS: Final = {"insert": 0.5, "upsert": 0.35}
BASE: Final = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# A typed table, as a user's migration would create it: text, bigint, integer, timestamptz, uuid, jsonb.
ORDERS_TABLE: Final = """
CREATE TABLE {name} (
    order_id       text        PRIMARY KEY,
    customer_id    text        NOT NULL,
    currency       text        NOT NULL,
    total_cents    bigint      NOT NULL CHECK (total_cents >= 0),
    line_count     integer     NOT NULL,
    placed_at      timestamptz NOT NULL,
    event_id       uuid        NOT NULL,
    shipping       jsonb,
    order_version  timestamptz
)
"""
TABLES: Final = ("orders_copy", "orders_insert", "orders_upsert", "orders_guarded")
COLUMNS: Final[dict[str, str | ColumnSource]] = {
    "order_id": "payload.order_id",
    "customer_id": "payload.customer_id",
    "currency": "payload.currency",
    "total_cents": "payload.total_cents",
    "line_count": computed(lambda event: len(event.payload.lines), description="len(lines)"),
    "placed_at": "occurred_at",
    "event_id": "event_id",
    "shipping": "payload.shipping",
}
COPY_ORDERS: Final = (
    "COPY orders_copy (order_id, customer_id, currency, total_cents, line_count, placed_at, event_id, shipping, "
    "order_version) FROM STDIN"
)


class Line(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class OrderCreated(BaseModel):
    order_id: str
    customer_id: str
    currency: str
    total_cents: int
    lines: list[Line]
    shipping: dict[str, Any] | None = None


def sink(table: str, mode: SinkMode) -> Sink:
    if mode is SinkMode.INSERT:
        return Sink(table=table, mode=mode, key=("order_id",), columns=COLUMNS)
    return Sink(table=table, mode=mode, key=("order_id",), columns=COLUMNS, version_column="order_version")


class Batch:
    """One batch of fresh events, parsed and mapped as the handler does it, and its sink rows as text."""

    def __init__(self, keys: Sequence[str], *, minutes: int) -> None:
        bodies = [
            json.dumps(
                {
                    "event_id": str(uuid.uuid4()),
                    "event_type": "order.created",
                    "source": "bench",
                    "occurred_at": (BASE + timedelta(minutes=minutes)).isoformat(),
                    "payload": {
                        "order_id": key,
                        "customer_id": f"c-{index % 97}",
                        "currency": "EUR",
                        "total_cents": 12345 + index,
                        "lines": [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 6172}],
                        "shipping": {"city": "Lyon", "country": "FR"},
                    },
                }
            )
            for index, key in enumerate(keys)
        ]
        records = [
            {"messageId": f"m{index}", "body": body, "attributes": {"ApproximateReceiveCount": "1"}}
            for index, body in enumerate(bodies)
        ]
        self.keys = list(keys)
        self.envelopes = [parse_message(body) for body in bodies]
        self.models = [OrderCreated.model_validate(envelope.payload) for envelope in self.envelopes]
        self.rows: list[EventRow] = [
            event_row(envelope, record)
            for envelope, record in zip(self.envelopes, SqsBatch.from_event({"Records": records}).records, strict=True)
        ]

    def effects(self, sinks: Sequence[Sink]) -> list[tuple[SinkWrite, ...]]:
        return [
            sink_writes(envelope, model, sinks) for envelope, model in zip(self.envelopes, self.models, strict=True)
        ]


def fresh_keys() -> list[str]:
    return [f"o-{uuid.uuid4().hex}" for _ in range(BATCH)]


def plain_copy(conn: psycopg.Connection[Any], batch: Batch, effects: Sequence[Sequence[SinkWrite]]) -> None:
    """Plain text COPY of the event data and of the sink rows, one transaction: the yardstick."""
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy(COPY_EVENTS) as copy:
            for row in batch.rows:
                copy.write_row(event_data(row))  # without Sluice's content digest
        with cursor.copy(COPY_ORDERS) as copy:
            for writes in effects:
                copy.write_row(writes[0].values)


def timed(write: Callable[[], Any]) -> float:
    started = time.perf_counter()
    write()
    return time.perf_counter() - started


def measure(url: str) -> None:
    database = Database(UrlCredentials(url), connect_timeout_s=5)
    inserting, upserting, guarded = (
        sink("orders_insert", SinkMode.INSERT),
        sink("orders_upsert", SinkMode.UPSERT),
        sink("orders_guarded", SinkMode.UPSERT),
    )
    copied = sink("orders_copy", SinkMode.UPSERT)  # its mapping gives COPY the same values, the version last
    stores = {
        "events": PostgresEventStore(database),
        "insert": PostgresEventStore(database, sinks=[inserting]),
        "upsert": PostgresEventStore(database, sinks=[upserting]),
        # a delete sink on the same table: its upserts consult the tombstones
        "guarded": PostgresEventStore(database, sinks=[guarded, sink("orders_guarded", SinkMode.DELETE)]),
    }
    names = ("COPY", "events only", "insert", "upsert", "upsert, existing", "upsert, guarded")
    samples: dict[str, list[float]] = {name: [] for name in names}
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as copy_conn:
        for repetition in range(WARM_UPS + REPETITIONS):
            copy_batch, events_batch, insert_batch, upsert_batch, guarded_batch = (
                Batch(fresh_keys(), minutes=1) for _ in range(5)
            )
            newer = Batch(upsert_batch.keys, minutes=2)
            e_copy = copy_batch.effects([copied])
            e_insert = insert_batch.effects([inserting])
            e_upsert = upsert_batch.effects([upserting])
            e_newer = newer.effects([upserting])
            e_guarded = guarded_batch.effects([guarded])
            # Run in this order: every strategy once per repetition.
            work: dict[str, Callable[[], Any]] = {
                "COPY": partial(plain_copy, copy_conn, copy_batch, e_copy),
                "events only": partial(stores["events"].store, events_batch.rows),
                "insert": partial(stores["insert"].store, insert_batch.rows, effects=e_insert),
                "upsert": partial(stores["upsert"].store, upsert_batch.rows, effects=e_upsert),
                "upsert, existing": partial(stores["upsert"].store, newer.rows, effects=e_newer),
                "upsert, guarded": partial(stores["guarded"].store, guarded_batch.rows, effects=e_guarded),
            }
            times = {name: timed(write) for name, write in work.items()}
            if repetition >= WARM_UPS:
                for name, seconds in times.items():
                    samples[name].append(seconds)
        check_written(copy_conn)
    database.close()
    report(samples)


def check_written(conn: psycopg.Connection[Any]) -> None:
    """Every strategy wrote every row: a benchmark of writes that did not happen would be worthless."""
    expected = (WARM_UPS + REPETITIONS) * BATCH
    for table in TABLES:
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        assert count == (expected,), (table, count, expected)
    newest = conn.execute("SELECT DISTINCT order_version FROM orders_upsert").fetchall()
    assert newest == [(BASE + timedelta(minutes=2),)], newest  # "upsert, existing" updated every row
    events = conn.execute("SELECT count(*) FROM events").fetchone()
    assert events == (expected * 6,), events


def report(samples: dict[str, list[float]]) -> None:
    copy = samples["COPY"]
    print(
        f"batch {BATCH}, {REPETITIONS} interleaved repetitions; ms per batch median [min..max]; "
        "x COPY = COPY's time / the strategy's time, paired per repetition"
    )
    print(f"{'strategy':<18} {'ms per batch':>24} {'events/s':>9} {'x COPY (paired)':>24}  goal")
    for name, times in samples.items():
        ms = [seconds * 1000 for seconds in times]
        rate = BATCH / statistics.median(times)
        ratios = [baseline / seconds for baseline, seconds in zip(copy, times, strict=True)]
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"{goal:.2f}: {'met' if statistics.median(ratios) >= goal else 'NOT met'}"
        print(f"{name:<18} {spread(ms, digits=1):>24} {rate:>9,.0f} {spread(ratios):>24}  {verdict}")


def main() -> None:
    print(f"start: {machine_load()}")
    started = time.perf_counter()
    with benchmark_server() as server:
        databases = DatabaseFactory(server, prefix="sluice_bench")
        url = databases.create()
        try:
            apply_migrations(url)
            with psycopg.connect(url, autocommit=True) as conn:
                for table in TABLES:
                    conn.execute(sql.SQL(ORDERS_TABLE).format(name=sql.Identifier(table)))
                version = conn.execute("SHOW server_version").fetchone()
            print(f"PostgreSQL {version[0] if version else '?'}, psycopg {psycopg.__version__}")
            measure(url)
        finally:
            databases.cleanup()
    print(f"end: {machine_load()} (benchmark took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
