"""Write-path benchmark: Sluice's bulk write vs plain COPY vs the tutorial, and the handler vs a minimal reference.

Run: ``make bench`` or ``[SLUICE_TEST_DATABASE_URL=postgresql://...] .venv/bin/python
tests/benchmarks/bench_write_path.py`` (``make bench`` runs it). It creates a throwaway database, applies the
real migrations and prints the machine's load at start and end. Every figure comes from one run: strategies
are interleaved repetition by repetition, each ratio is taken per repetition (paired) and printed as
``median [min..max]``; the repetitions are counted in each table's heading.

Write path, for a tiny payload and a realistic one (300 to 400 bytes, nested), batches of 10 to 10,000:

- sluice: ``PostgresEventStore.store`` exactly as the handler calls it, fresh rows (first deliveries: pool checkout
  with its health check, then one binary ``COPY``, atomic in autocommit);
- redelivered: the same call for a batch already stored, delivered again (SQS receive count 2: the redelivery
  probe, one primary-key lookup per id, finds every row stored with the same content digest);
- 1% redelivered: a fresh batch in which 1% of the messages (at least one) are stored redeliveries;
- id reuse: a fresh batch whose last row reuses a stored ``event_id`` with receive count 1 (a producer that
  sent twice): the worst case, the ``COPY`` is refused and the batch is written with ``INSERT ... ON CONFLICT``;
- no digest: the fresh write without the ``content_digest`` column, against sluice (and sluice + hashing);
- COPY: plain text ``COPY events FROM STDIN`` on an open connection (one statement, autocommit; not
  idempotent); tutorial: a new connection per batch, one ``INSERT`` and one commit per row.

Handler: ``lambda_handler(event, context)`` as Lambda calls it (a context with a 30 s deadline, the log line and
EMF metrics written to stdout, here ``/dev/null``) on SQS events of fresh envelopes, against the minimal
reference of ``tests/support/lambda_bench.py`` (parse, the same Pydantic models, one binary COPY on an open
connection). The realistic payload is validated as the catalog's ``order.created``; the tiny one's type has no
payload model, so only its envelope is.

The realistic payload's figures are also written to ``build/bench/write_path.json`` (``--results FILE``
elsewhere), format ``sluice-bench-write-path/1``: when and where they were measured, the payload size, rows/s
per strategy and batch size, handler messages/s per batch size. ``sluice plan --bench-results FILE`` reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic_core import to_json

from sluice_consumer.credentials import UrlCredentials
from sluice_consumer.database import Database
from sluice_consumer.logic import EventRow
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.repository import COLUMNS, _JsonTextBinaryDumper
from sluice_consumer.rows import content_digest
from sluice_consumer.store import PostgresEventStore
from sluice_shared.contract import EventEnvelope

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.bench import interleaved, load_reported, paired, spread
from tests.support.events_table import COPY_EVENTS, COPY_EVENTS_BINARY_WITHOUT_DIGEST, EVENT_DATA_COLUMNS, event_data
from tests.support.lambda_bench import (
    PAYLOADS,
    BenchContext,
    models_only,
    reference_writer,
    sqs_event,
    stdout_discarded,
)
from tests.support.postgres import DatabaseFactory, benchmark_server

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# Interleaved repetitions per batch size (at least 15 where the goals are read; more where a repetition is cheap,
# as a median of 21 still moved by +-3% between runs at batch 1,000); the tutorial commits once per row, so it
# joins only the first few.
REPETITIONS: Final = {10: 61, 100: 41, 1000: 61, 10_000: 7}
TUTORIAL_REPETITIONS: Final = {10: 15, 100: 9, 1000: 3, 10_000: 1}
HANDLER_REPETITIONS: Final = {10: 81, 100: 41, 1000: 21}
RESULTS_FORMAT: Final = "sluice-bench-write-path/1"
DEFAULT_RESULTS: Final = Path(__file__).resolve().parents[2] / "build" / "bench" / "write_path.json"
RESULTS_PAYLOAD: Final = "realistic"  # the payload whose figures go to the results file

PAYLOAD: Final = to_json(PAYLOADS[RESULTS_PAYLOAD][1]).decode()  # what the results file describes
TUTORIAL_INSERT: Final = (
    "INSERT INTO events (event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id, "
    "receive_count, content_digest) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
)


def bench_envelope(payload: str, occurred_at: datetime) -> EventEnvelope:
    """A validated envelope carrying the payload named in :data:`PAYLOADS`."""
    event_type, data = PAYLOADS[payload]
    return EventEnvelope.model_validate(
        {
            "event_id": uuid.uuid4(),
            "event_type": event_type,
            "source": "bench",
            "occurred_at": occurred_at,
            "payload": data,
        }
    )


def fresh_rows(count: int, payload: str) -> list[EventRow]:
    """``count`` new rows of one content, serialised and digested as the consumer does."""
    envelope = bench_envelope(payload, datetime.now(UTC))
    payload_json = to_json(envelope.payload)
    digest = content_digest(envelope, payload_json)
    text, now = payload_json.decode(), envelope.occurred_at
    return [
        EventRow(uuid.uuid4(), envelope.event_type, "bench", now, 1, text, str(uuid.uuid4()), 1, digest)
        for _ in range(count)
    ]


def measure_digests(rows: Sequence[EventRow], payload: str) -> float:
    """Seconds to compute the content digests of ``rows`` as the consumer does.

    Only the digest's own work: the payload is serialised once for the row whether or not it is digested.
    """
    envelope = bench_envelope(payload, rows[0].occurred_at)
    serialised = [to_json(envelope.payload) for _ in rows]
    started = time.perf_counter()
    for payload_json in serialised:
        content_digest(envelope, payload_json)
    return time.perf_counter() - started


def tutorial(url: str) -> Callable[[Sequence[EventRow]], None]:
    def write(rows: Sequence[EventRow]) -> None:
        with psycopg.connect(url) as conn:
            for row in rows:
                conn.execute(TUTORIAL_INSERT, row)
                conn.commit()

    return write


def timed(write: Callable[[Sequence[EventRow]], Any], rows: Sequence[EventRow]) -> float:
    started = time.perf_counter()
    write(rows)
    return time.perf_counter() - started


class WritePath:
    """The write strategies on one database, each a callable that writes a batch (see the module doc)."""

    def __init__(self, url: str) -> None:
        self.database = Database(UrlCredentials(url), connect_timeout_s=5)
        self.store = PostgresEventStore(self.database)
        self.copy_conn = psycopg.connect(url, autocommit=True)
        self.tutorial = tutorial(url)
        self.stored: list[EventRow] = []  # fresh rows already written, to redeliver
        self.last_fresh: list[EventRow] = []

    def close(self) -> None:
        self.copy_conn.close()
        self.database.close()

    def sluice(self, rows: Sequence[EventRow]) -> None:
        self.store.store(rows)

    def plain_copy(self, rows: Sequence[EventRow]) -> None:
        with self.copy_conn.cursor() as cursor, cursor.copy(COPY_EVENTS) as copy:
            for row in rows:
                copy.write_row(event_data(row))  # without Sluice's content digest

    def without_digest(self, rows: Sequence[EventRow]) -> None:
        # The store's fresh path as it was before content digests: checkout, one binary COPY of 8 columns.
        with self.database.connection() as conn, conn.cursor() as cursor:
            cursor.adapters.register_dumper(None, _JsonTextBinaryDumper)
            with cursor.copy(COPY_EVENTS_BINARY_WITHOUT_DIGEST) as copy:
                copy.set_types([column.type for column in EVENT_DATA_COLUMNS])
                for row in rows:
                    copy.write_row(event_data(row))

    def cases(self, size: int, payload: str, digest_s: list[float]) -> dict[str, Callable[[], float]]:
        """The timed cases of one repetition (inputs prepared before each clock starts)."""

        def fresh() -> float:
            rows = fresh_rows(size, payload)
            elapsed = timed(self.sluice, rows)
            digest_s.append(measure_digests(rows, payload))
            self.last_fresh = rows
            self.stored.extend(rows[:100])
            return elapsed

        def redelivered() -> float:
            batch = self.last_fresh or fresh_rows(size, payload)
            return timed(self.sluice, [replace_receive_count(row, 2) for row in batch])

        def few_redelivered() -> float:
            rows = fresh_rows(size, payload)
            count = max(1, size // 100)
            rows[-count:] = [replace_receive_count(row, 2) for row in self.stored[-count:]]
            return timed(self.sluice, rows)

        def id_reuse() -> float:
            rows = fresh_rows(size, payload)
            rows[-1] = self.stored[-1]
            return timed(self.sluice, rows)

        return {
            "sluice": fresh,
            "redelivered": redelivered,
            "few_redelivered": few_redelivered,
            "id_reuse": id_reuse,
            "no_digest": lambda: timed(self.without_digest, fresh_rows(size, payload)),
            "copy": lambda: timed(self.plain_copy, fresh_rows(size, payload)),
            "tutorial": lambda: timed(self.tutorial, fresh_rows(size, payload)),
        }


def replace_receive_count(row: EventRow, receive_count: int) -> EventRow:
    return row._replace(receive_count=receive_count)


def measure_write_paths(url: str, payload: str, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Print and return the write-path figures for ``payload`` (see the module doc)."""
    path = WritePath(url)
    print(f"\n-- write path, {payload} payload ({len(to_json(PAYLOADS[payload][1]))} bytes of JSON)")
    print("rows/s (median of each strategy's repetitions)")
    heads = ("batch", "reps", "sluice", "redelivered", "1% redeliv.", "id reuse", "no digest", "COPY", "tutorial")
    print(" ".join(f"{head:>11}" for head in heads))
    figures: list[dict[str, Any]] = []
    ratios: list[str] = []
    try:
        for size in sizes:
            digest_s: list[float] = []
            samples = interleaved(
                path.cases(size, payload, digest_s),
                repetitions=REPETITIONS[size],
                limits={"tutorial": TUTORIAL_REPETITIONS[size]},
            )
            rate = {name: size / statistics.median(times) for name, times in samples.items()}
            print(f"{size:>11} {REPETITIONS[size]:>11} " + " ".join(f"{rate[name]:>11,.0f}" for name in samples))
            figures.append({"batch": size, "rows_per_s": {name: round(value, 1) for name, value in rate.items()}})
            fresh = samples["sluice"]
            with_digest = [write + digest for write, digest in zip(fresh, digest_s[1:], strict=False)]
            ratios.append(
                f"{size:>6} {spread(paired(samples['copy'], fresh)):>20} "
                f"{spread(paired(samples['redelivered'], fresh)):>20} "
                f"{spread(paired(samples['few_redelivered'], fresh)):>20} "
                f"{spread(paired(samples['id_reuse'], fresh)):>20} "
                f"{spread(paired(samples['no_digest'], fresh)):>20} "
                f"{spread(paired(samples['no_digest'], with_digest)):>20} "
                f"{spread(paired(samples['tutorial'], fresh), digits=1):>20}"
            )
    finally:
        path.close()
    print(
        "\npaired ratios, median [min..max] per repetition: speed = COPY time / sluice time (goal >= 0.95); "
        "cost = its time / a fresh batch's\n(goals: redelivered <= 0.6, 1% redelivered <= 1.2); digest column = "
        "no-digest time / sluice time, the COPY path with and without the content_digest column (goal >= 0.95 at "
        "1,000);\n+ hashing = no-digest time / (sluice + computing the digests); x tutorial = tutorial time / sluice"
    )
    ratio_heads = (
        "batch",
        "speed vs COPY",
        "redelivered cost",
        "1% redeliv. cost",
        "id reuse cost",
        "digest column",
        "+ hashing",
        "x tutorial",
    )
    widths = (6, 20, 20, 20, 20, 20, 20, 20)
    print(" ".join(f"{head:>{width}}" for head, width in zip(ratio_heads, widths, strict=True)))
    print("\n".join(ratios))
    return figures


def measure_handler(url: str, payload: str) -> list[dict[str, Any]]:
    """Print and return handler-vs-reference figures for ``payload`` (see the module doc)."""
    # Configured as Lambda configures it: environment variables read when the handler module is first used.
    os.environ.update(
        {
            "SLUICE_DATABASE_URL": url,
            "SLUICE_PAYLOAD_REGISTRY": "tests.support.lambda_bench:models_only",
            "POWERTOOLS_SERVICE_NAME": "sluice-consumer",
        }
    )
    from sluice_consumer.handler import lambda_handler  # noqa: PLC0415 - after its environment is set

    registry = models_only()
    print(f"\n-- handler, {payload} payload: lambda_handler(event, context) vs the minimal reference")
    heads = ("batch", "reps", "handler msg/s", "reference msg/s", "handler / reference speed")
    print(f"{heads[0]:>6} {heads[1]:>5} {heads[2]:>14} {heads[3]:>16} {heads[4]:>27}")
    figures: list[dict[str, Any]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        reference = reference_writer(conn, registry)

        def run_handler(size: int) -> float:
            event, context = sqs_event(size, payload), BenchContext()
            with stdout_discarded():
                started = time.perf_counter()
                response = lambda_handler(event, context)
                elapsed = time.perf_counter() - started
            if response != {"batchItemFailures": []}:
                raise SystemExit(f"the handler reported failures: {response}")
            return elapsed

        def run_reference(size: int) -> float:
            event = sqs_event(size, payload)
            started = time.perf_counter()
            reference(event)
            return time.perf_counter() - started

        for size, repetitions in HANDLER_REPETITIONS.items():
            samples = interleaved(
                {"handler": partial(run_handler, size), "reference": partial(run_reference, size)},
                repetitions=repetitions,
                warm_up=2,
            )
            handler_rate = size / statistics.median(samples["handler"])
            reference_rate = size / statistics.median(samples["reference"])
            speed = spread(paired(samples["reference"], samples["handler"]))
            print(f"{size:>6} {repetitions:>5} {handler_rate:>14,.0f} {reference_rate:>16,.0f} {speed:>27}")
            figures.append({"batch": size, "messages_per_s": round(handler_rate, 1)})
    print("(speed = reference time / handler time per repetition; goal >= 0.7 at every batch size)")
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where to write the JSON results")
    arguments = parser.parse_args(argv)
    with load_reported(), benchmark_server() as server:
        document = measure_all(server)
    arguments.results.parent.mkdir(parents=True, exist_ok=True)
    arguments.results.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {arguments.results} (sluice plan --bench-results {arguments.results})")


def machine(server: str, postgresql: str, load_average: list[float] | None = None) -> dict[str, Any]:
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
        "load_average": load_average if load_average is not None else [round(v, 2) for v in os.getloadavg()],
    }


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def measure_all(server: str) -> dict[str, Any]:
    """Run the measurements in a throwaway database on ``server``, print them and return the results document."""
    load_average = [round(value, 2) for value in os.getloadavg()]
    databases = DatabaseFactory(server, prefix="sluice_bench")
    url = databases.create()
    started = time.perf_counter()
    try:
        apply_migrations(url)
        with psycopg.connect(url) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        postgresql = str(version[0]) if version else "?"
        print(f"PostgreSQL {postgresql}, psycopg {psycopg.__version__}, {len(COLUMNS)} columns")
        write_path: dict[str, list[dict[str, Any]]] = {}
        for payload in PAYLOADS:
            write_path[payload] = measure_write_paths(url, payload, list(REPETITIONS))
        handler = {payload: measure_handler(url, payload) for payload in PAYLOADS}
    finally:
        databases.cleanup()
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    return results_document(
        machine=machine(server, postgresql, load_average),
        write_path=write_path[RESULTS_PAYLOAD],
        handler=handler[RESULTS_PAYLOAD],
    )


def results_document(
    *, machine: dict[str, Any], write_path: list[dict[str, Any]], handler: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``sluice-bench-write-path/1`` document ``sluice plan --bench-results`` reads (realistic payload)."""
    return {
        "format": RESULTS_FORMAT,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "payload_bytes": len(PAYLOAD),
        "write_path": write_path,
        "handler": handler,
    }


if __name__ == "__main__":
    main()
