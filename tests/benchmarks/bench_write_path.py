"""Write-path benchmark: Sluice's bulk write vs the tutorial baseline vs plain COPY, same rows, same table.

Run: ``make bench`` or ``[SLUICE_TEST_DATABASE_URL=postgresql://...] .venv/bin/python
tests/benchmarks/bench_write_path.py`` (``make bench`` runs it). It creates a throwaway database, applies
the real migrations, and prints rows/s for batch sizes 10, 100, 1000 and 10000:

- sluice: ``PostgresEventStore.store`` exactly as the handler calls it (pool checkout with its health check,
  then the optimistic write: one binary ``COPY``, atomic in autocommit);
- sluice+dup: the same with the batch's last row already stored (a redelivered event), the worst case of
  the optimistic write: the ``COPY`` fails on the primary key and the whole batch is written again with
  ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING``, 1,000 rows per statement;
- tutorial: a new connection per batch, one ``INSERT`` and one commit per row;
- copy: plain text ``COPY events FROM STDIN`` on an open connection (one statement, autocommit; not
  idempotent), and the repository's binary COPY on an open connection for reference (no pool checkout).

Strategies are interleaved within each repetition so they share the machine's noise; figures are medians
of fresh rows (no conflicts). Then the whole handler (parse + validate + write) is timed on real SQS events.

The figures are also written to ``build/bench/write_path.json`` (``--results FILE`` elsewhere), format
``sluice-bench-write-path/1``: when and where they were measured, the payload size, rows/s per strategy and
batch size, handler messages/s per batch size. ``sluice plan --bench-results FILE`` sizes a deployment from it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
import uuid
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg.conninfo import conninfo_to_dict

from sluice_consumer import runtime
from sluice_consumer.credentials import UrlCredentials
from sluice_consumer.database import Database
from sluice_consumer.logic import EventRow
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.repository import COLUMNS, _JsonTextBinaryDumper, copy_new_events
from sluice_consumer.settings import ConsumerSettings
from sluice_consumer.store import PostgresEventStore

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.events_table import (
    COPY_EVENTS,
    COPY_EVENTS_BINARY_WITHOUT_DIGEST,
    EVENT_DATA_COLUMNS,
    event_data,
)
from tests.support.postgres import DatabaseFactory, benchmark_server

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

# Repetitions per batch size; the tutorial baseline commits once per row, so it gets fewer at large sizes.
SIZES: Final = {10: 40, 100: 25, 1000: 25, 10_000: 5}
TUTORIAL_REPS: Final = {10: 20, 100: 10, 1000: 5, 10_000: 1}
HANDLER_SIZES: Final = {1000: 7, 10_000: 3}
RESULTS_FORMAT: Final = "sluice-bench-write-path/1"
DEFAULT_RESULTS: Final = Path(__file__).resolve().parents[2] / "build" / "bench" / "write_path.json"

TUTORIAL_INSERT: Final = (
    "INSERT INTO events (event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, "
    "receive_count, content_digest) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
)
PAYLOAD: Final = json.dumps(
    {
        "order_id": "o-123456",
        "customer_id": "c-98765",
        "currency": "EUR",
        "total_cents": 12345,
        "lines": [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 6172}],
    },
    separators=(",", ":"),
)


def fresh_rows(count: int) -> list[EventRow]:
    now = datetime.now(UTC)
    digest = sha256(PAYLOAD.encode()).digest()[:16]  # what content_digest() computes is timed in measure_digest
    return [
        EventRow(uuid.uuid4(), "order.created", "bench", now, 1, PAYLOAD, str(uuid.uuid4()), 1, digest)
        for _ in range(count)
    ]


def tutorial(url: str) -> Callable[[Sequence[EventRow]], None]:
    def write(rows: Sequence[EventRow]) -> None:
        with psycopg.connect(url) as conn:
            for row in rows:
                conn.execute(TUTORIAL_INSERT, row)
                conn.commit()

    return write


def copy_writer(conn: psycopg.Connection[Any], *, binary: bool) -> Callable[[Sequence[EventRow]], Any]:
    if binary:
        return lambda rows: copy_new_events(conn, rows)

    def write(rows: Sequence[EventRow]) -> None:
        # Autocommit: one COPY is atomic on its own, so plain COPY pays no BEGIN/COMMIT round trips either.
        with conn.cursor() as cursor, cursor.copy(COPY_EVENTS) as copy:
            for row in rows:
                copy.write_row(event_data(row))  # without Sluice's content digest

    return write


def timed(write: Callable[[Sequence[EventRow]], Any], rows: Sequence[EventRow]) -> float:
    started = time.perf_counter()
    write(rows)
    return time.perf_counter() - started


def measure_write_paths(url: str) -> list[dict[str, Any]]:
    database = Database(UrlCredentials(url), connect_timeout_s=5)
    store = PostgresEventStore(database)
    with (
        psycopg.connect(url, prepare_threshold=None, autocommit=True) as copy_conn,
        psycopg.connect(url, autocommit=True) as admin,
    ):
        stored: list[EventRow] = []

        def sluice_with_duplicate(rows: Sequence[EventRow]) -> None:
            store.store([*rows[:-1], stored[-1]])

        def sluice(rows: Sequence[EventRow]) -> None:
            store.store(rows)
            stored.append(rows[-1])

        def sluice_without_digest(rows: Sequence[EventRow]) -> None:
            # The store's fresh path as it was before content digests: checkout, one binary COPY of 8 columns.
            with database.connection() as conn, conn.cursor() as cursor:
                cursor.adapters.register_dumper(None, _JsonTextBinaryDumper)
                with cursor.copy(COPY_EVENTS_BINARY_WITHOUT_DIGEST) as copy:
                    copy.set_types([column.type for column in EVENT_DATA_COLUMNS])
                    for row in rows:
                        copy.write_row(event_data(row))

        strategies: dict[str, Callable[[Sequence[EventRow]], Any]] = {
            "sluice": sluice,
            "sluice_dup": sluice_with_duplicate,
            "sluice_v1": sluice_without_digest,
            "copy": copy_writer(copy_conn, binary=False),
            "copy_binary": copy_writer(copy_conn, binary=True),
            "tutorial": tutorial(url),
        }
        print(
            "rows/s (median); x COPY = sluice / plain text COPY; x tutorial = sluice / tutorial baseline; "
            "x no-digest = sluice / the same write without the content digest column"
        )
        names = ("batch", "sluice", "sluice+dup", "tutorial", "COPY", "bin COPY", "x COPY", "x tutorial", "x no-digest")
        widths = (6, 10, 10, 10, 10, 10, 7, 10, 12)
        print(" ".join(f"{name:>{width}}" for name, width in zip(names, widths, strict=True)))
        figures: list[dict[str, Any]] = []
        for size, reps in SIZES.items():
            admin.execute("TRUNCATE events")
            for write in strategies.values():  # warm-up: connections, caches, code paths
                write(fresh_rows(size))
            samples: dict[str, list[float]] = {name: [] for name in strategies}
            for rep in range(reps):
                for name, write in strategies.items():
                    if name == "tutorial" and rep >= TUTORIAL_REPS[size]:
                        continue
                    samples[name].append(timed(write, fresh_rows(size)))
            rate = {name: size / statistics.median(times) for name, times in samples.items()}
            figures.append({"batch": size, "rows_per_s": {name: round(value, 1) for name, value in rate.items()}})
            print(
                f"{size:>6} {rate['sluice']:>10,.0f} {rate['sluice_dup']:>10,.0f} {rate['tutorial']:>10,.0f} "
                f"{rate['copy']:>10,.0f} "
                f"{rate['copy_binary']:>10,.0f} {rate['sluice'] / rate['copy']:>7.2f} "
                f"{rate['sluice'] / rate['tutorial']:>10.1f} {rate['sluice'] / rate['sluice_v1']:>12.3f}"
            )
    database.close()
    return figures


def sqs_event(count: int) -> dict[str, Any]:
    records = []
    for index in range(count):
        body = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "order.created",
                "source": "bench",
                "occurred_at": "2026-11-26T12:00:00+00:00",
                "schema_version": 1,
                "payload": json.loads(PAYLOAD),
            }
        )
        records.append(
            {
                "messageId": f"m{index}",
                "receiptHandle": "r",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


@contextmanager
def quiet_handler() -> Iterator[None]:
    """Discard the handler's log line (Powertools' stream) and EMF metrics (printed) while timing it."""
    from sluice_consumer.handler import logger  # noqa: PLC0415

    handler: Any = logger.registered_handler
    previous, handler.stream = handler.stream, io.StringIO()
    try:
        with redirect_stdout(io.StringIO()):
            yield
    finally:
        handler.stream = previous


def measure_handler(url: str) -> list[dict[str, Any]]:
    from sluice_consumer.context import LocalContext  # noqa: PLC0415
    from sluice_consumer.handler import lambda_handler  # noqa: PLC0415

    runtime.configure(ConsumerSettings(database_url=url))  # type: ignore[arg-type]
    print("\nend to end through lambda_handler (parse + validate + write, fresh events), messages/s (median):")
    figures: list[dict[str, Any]] = []
    try:
        for size, reps in HANDLER_SIZES.items():
            times = []
            for _ in range(reps + 1):
                event = sqs_event(size)
                with quiet_handler():
                    started = time.perf_counter()
                    response = lambda_handler(event, LocalContext(timeout_s=600))
                    times.append(time.perf_counter() - started)
                assert response == {"batchItemFailures": []}, response
            print(f"{size:>6} {size / statistics.median(times[1:]):>10,.0f}")
            figures.append({"batch": size, "messages_per_s": round(size / statistics.median(times[1:]), 1)})
    finally:
        runtime.configure(None)
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where to write the JSON results")
    arguments = parser.parse_args(argv)
    with benchmark_server() as server:
        document = measure_all(server)
    arguments.results.parent.mkdir(parents=True, exist_ok=True)
    arguments.results.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {arguments.results} (sluice plan --bench-results {arguments.results})")


def machine(server: str, postgresql: str) -> dict[str, Any]:
    """Where the figures were measured: the CPUs, the platform, the server (no credentials), the load."""
    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines() if line.startswith(("model name", "Model"))),
        platform.processor() or platform.machine(),
    )
    address = conninfo_to_dict(server)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgresql,
        "psycopg": psycopg.__version__,
        "server": f"{address.get('host', 'local socket')}:{address.get('port', 5432)}",
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def results_document(
    *, machine: dict[str, Any], write_path: list[dict[str, Any]], handler: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``sluice-bench-write-path/1`` document ``sluice plan --bench-results`` reads."""
    return {
        "format": RESULTS_FORMAT,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "payload_bytes": len(PAYLOAD),
        "write_path": write_path,
        "handler": handler,
    }


def measure_all(server: str) -> dict[str, Any]:
    """Run the measurements in a throwaway database on ``server``, print them and return the results document."""
    databases = DatabaseFactory(server, prefix="sluice_bench")
    url = databases.create()
    started = time.perf_counter()
    try:
        apply_migrations(url)
        with psycopg.connect(url) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        postgresql = str(version[0]) if version else "?"
        print(f"PostgreSQL {postgresql}, psycopg {psycopg.__version__}, {len(COLUMNS)} columns")
        write_path = measure_write_paths(url)
        handler = measure_handler(url)
    finally:
        databases.cleanup()
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    return results_document(machine=machine(server, postgresql), write_path=write_path, handler=handler)


if __name__ == "__main__":
    main()
