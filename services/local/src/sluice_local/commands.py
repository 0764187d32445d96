"""``sluice local``: run the whole pipeline on this machine (``up``) or show it working end to end (``demo``).

Commands are thin: they build a :class:`~sluice_local.pipeline.PipelineConfig` from options, run a
:class:`~sluice_local.pipeline.LocalPipeline` and print. SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Final

import typer
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sluice_cli.console import err, out
from sluice_local.database import DatabaseKind, mask_password
from sluice_local.demo import DemoPlan, DemoReport, run_demo
from sluice_local.pipeline import DEFAULT_QUEUE_NAME, LOCAL_POLL_WAIT_SECONDS, LocalPipeline, PipelineConfig
from sluice_local.queues import LOCAL_TOPOLOGY
from sluice_local.sink_reconcile import references_first
from sluice_shared import environment as env
from sluice_shared.catalog import CATALOG_MIGRATIONS, CATALOG_REGISTRY
from sluice_shared.limits import SQS_MAX_BATCH_SIZE_FIFO
from sluice_shared.roles import WRITER_ROLE
from sluice_shared.topology import QueueTopology

__all__ = ["app"]

STATUS_INTERVAL_SECONDS: Final = 5.0
DEFAULT_PLAN: Final = DemoPlan()
EXIT_NOT_RECONCILED: Final = 1  # sluice_cli.app.EXIT_FAILED (importing app here would be circular)
STOPPED: Final = "stopped; nothing left running (ingest, consumer, SQS and the database are down)"

app = typer.Typer(
    help="Run the whole pipeline on this machine: embedded SQS, PostgreSQL, the ingest and consumer functions.",
    no_args_is_help=True,
)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=env.DATABASE_URL,
        help="PostgreSQL to use. Default: a testcontainers container if Docker answers, else a throwaway "
        "cluster from local PostgreSQL binaries.",
        show_default=False,
    ),
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, max=10, help="At most this many batches are handled at once.")
]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", min=1, help="Event source batch size.")]
WindowOption = Annotated[
    int, typer.Option("--batching-window", min=0, help="Seconds the event source gathers a batch (0: one receive).")
]
TimeoutOption = Annotated[
    int,
    typer.Option(
        "--consumer-timeout",
        min=1,
        help="Consumer timeout in seconds; the queue's visibility timeout is 6 x this + the batching window.",
    ),
]
PayloadRegistryOption = Annotated[
    str,
    typer.Option(
        "--payload-registry",
        envvar=env.PAYLOAD_REGISTRY,
        help="'package.module:attribute' of the payload models both functions validate against. Default: "
        "Sluice's sample catalog (a deployment without the setting has no payload models).",
    ),
]
LogLevelOption = Annotated[
    str, typer.Option("--log-level", help="Level of the pipeline's and the functions' logs (stderr / stdout).")
]


@app.command("up")
def up(
    *,
    database_url: DatabaseUrlOption = None,
    ingest_port: Annotated[int, typer.Option("--ingest-port", min=0, max=65535, help="0: a free port.")] = 0,
    sqs_port: Annotated[int, typer.Option("--sqs-port", min=0, max=65535, help="0: a free port.")] = 0,
    queue_name: Annotated[str, typer.Option("--queue-name", help="Source queue name (DLQ: <name>-dlq).")] = (
        DEFAULT_QUEUE_NAME
    ),
    fifo: Annotated[bool, typer.Option("--fifo", help="Use FIFO queues (names end in .fifo).")] = False,
    concurrency: ConcurrencyOption = 2,
    batch_size: BatchSizeOption = LOCAL_TOPOLOGY.batch_size,
    batching_window: WindowOption = LOCAL_TOPOLOGY.batching_window_seconds,
    consumer_timeout: TimeoutOption = LOCAL_TOPOLOGY.consumer_timeout_seconds,
    payload_registry: PayloadRegistryOption = CATALOG_REGISTRY,
    app_migrations: Annotated[
        str | None,
        typer.Option(
            "--app-migrations",
            envvar=env.APP_MIGRATIONS,
            help="Your own migrations (your sinks' tables), applied after Sluice's. Default: the sample catalog's "
            "when the payload registry is the sample catalog.",
            show_default=False,
        ),
    ] = None,
    log_level: LogLevelOption = "INFO",
) -> None:
    """Start the pipeline on loopback and run until Ctrl-C; print where everything is."""
    _configure_logging(log_level)
    if fifo and (batching_window or batch_size > SQS_MAX_BATCH_SIZE_FIFO):
        # Lambda takes no batching window on FIFO event sources, and at most 10 records a batch.
        batching_window, batch_size = 0, min(batch_size, SQS_MAX_BATCH_SIZE_FIFO)
        err.print(f"FIFO: batch size {batch_size}, no batching window (Lambda's limits for FIFO event sources)")
    topology = QueueTopology(
        consumer_timeout_seconds=consumer_timeout,
        batch_size=batch_size,
        batching_window_seconds=batching_window,
        max_receive_count=LOCAL_TOPOLOGY.max_receive_count,
        fifo=fifo,
    ).validate()
    config = PipelineConfig(
        database_url=database_url,
        topology=topology,
        queue_name=queue_name,
        max_concurrency=concurrency,
        poll_wait_seconds=LOCAL_POLL_WAIT_SECONDS,
        ingest_port=ingest_port,
        sqs_port=sqs_port,
        payload_registry=payload_registry,
        app_migrations=app_migrations or (CATALOG_MIGRATIONS if payload_registry == CATALOG_REGISTRY else None),
        environment={"POWERTOOLS_LOG_LEVEL": log_level.upper()},
    )
    err.print("starting the local pipeline ...")
    with _stop_signals() as stop, LocalPipeline(config) as pipeline:
        stop.arm()
        _print_where(pipeline)
        last = ""
        while not stop.requested.wait(STATUS_INTERVAL_SECONDS):
            pipeline.check_healthy()
            status = _status_line(pipeline)
            if status != last:
                err.print(status, markup=False)
                last = status
        err.print("stopping: letting batches in flight finish ...")
    err.print(STOPPED)


@app.command("demo")
def demo(
    *,
    database_url: DatabaseUrlOption = None,
    events: Annotated[int, typer.Option("--events", min=1, help="How many generated events to send.")] = (
        DEFAULT_PLAN.events
    ),
    invalid_ratio: Annotated[
        float, typer.Option("--invalid-ratio", min=0.0, max=1.0, help="Share of events that break the contract.")
    ] = DEFAULT_PLAN.invalid_ratio,
    duplicate_ratio: Annotated[
        float, typer.Option("--duplicate-ratio", min=0.0, max=1.0, help="Share of events sent again (same id).")
    ] = DEFAULT_PLAN.duplicate_ratio,
    poison: Annotated[
        int, typer.Option("--poison", min=0, help="Invalid messages sent straight to the queue, bypassing ingest.")
    ] = DEFAULT_PLAN.poison,
    request_size: Annotated[int, typer.Option("--request-size", min=1, help="Events per HTTP request.")] = (
        DEFAULT_PLAN.request_size
    ),
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for the generated events.")] = DEFAULT_PLAN.seed,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds to wait for the queue to drain.")
    ] = DEFAULT_PLAN.drain_timeout_seconds,
) -> int:
    """Start the pipeline, push generated events through HTTP ingest, wait for the drain, print a summary.

    Exits 1 when the counts do not reconcile.
    """
    _configure_logging("WARNING")
    plan = DemoPlan(
        events=events,
        invalid_ratio=invalid_ratio,
        duplicate_ratio=duplicate_ratio,
        poison=poison,
        request_size=request_size,
        seed=seed,
        drain_timeout_seconds=timeout,
    )
    from sluice_cli.generate import generate_events  # noqa: PLC0415 - only this command needs it
    from sluice_ingest.logic import EVENTS_PATH  # noqa: PLC0415 - ~190 ms of imports

    generated = references_first(
        list(
            generate_events(
                plan.events, invalid_ratio=plan.invalid_ratio, duplicate_ratio=plan.duplicate_ratio, seed=seed
            )
        ),
        count=plan.references_first,
    )
    bad = [json.dumps(event) for event in generate_events(max(0, plan.poison - 1), invalid_ratio=1.0, seed=seed)]
    poison_bodies = [*bad, "{not json"][: plan.poison]
    # The generated events are the sample catalog's: validate them against it, explicitly.
    config = PipelineConfig(
        database_url=database_url,
        payload_registry=CATALOG_REGISTRY,
        app_migrations=CATALOG_MIGRATIONS,
        environment={"POWERTOOLS_LOG_LEVEL": "WARNING"},
    )
    err.print("starting the local pipeline ...")
    err.print(f"payload models: {_registry_description(CATALOG_REGISTRY)}", markup=False)
    with _stop_signals(), LocalPipeline(config) as pipeline:
        err.print(f"pipeline up ({pipeline.database_kind}); sending {len(generated)} events to {pipeline.ingest_url}")
        err.print(f"({plan.poison} invalid messages go straight to the queue, as a producer bypassing ingest would)")
        with Progress(
            TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
        ) as progress:
            task = progress.add_task("send", total=len(generated))
            report = run_demo(
                pipeline,
                plan,
                events=generated,
                poison=poison_bodies,
                on_progress=lambda count: progress.advance(task, count),
            )
        _print_report(report, f"{pipeline.ingest_url}{EVENTS_PATH}", references=plan.references_first)
        err.print("stopping ...")
    err.print(STOPPED)
    return 0 if report.reconciled else EXIT_NOT_RECONCILED


def _print_report(report: DemoReport, events_url: str, *, references: int) -> None:
    cuts = report.percentiles()
    # End to end, the local SQS emulator sets the pace (moto slows with every queued message); the consumer's
    # own speed is the time its handler took, measured in the same run.
    throughput_note = (
        f"stored, {report.seconds:.1f} s to a drained queue: the pace of the local SQS emulator (moto), not Sluice's"
    )
    per_batch = report.handler_records / report.handler_batches if report.handler_batches else 0
    handler_note = (
        f"records/s inside the consumer handler once warm, this run: {report.handler_records:,} records in "
        f"{report.handler_batches:,} batches of ~{per_batch:.0f}, {report.handler_seconds:.2f} s "
        f"(per-batch costs weigh at this size; make bench measures large batches)"
    )
    rows: list[tuple[str, str, str]] = [
        ("sent", f"{report.sent:,}", "generated events, POSTed to ingest"),
        ("accepted", f"{report.accepted:,}", "queued by ingest"),
        ("rejected at the door", f"{report.rejected:,}", "refused by ingest with the reason (HTTP 207/4xx)"),
    ]
    if report.failed:
        rows.append(("failed at the door", f"{report.failed:,}", "ingest could not queue them"))
    rows += [
        ("stored", f"{report.stored:,}", "rows in PostgreSQL, one per event_id"),
        ("duplicates skipped", f"{report.duplicates_skipped:,}", "accepted again with a known event_id"),
        ("in the DLQ", f"{report.in_dlq:,}", f"{report.poison_sent} of them sent straight to the queue"),
        *((f"  {reason}", f"{count:,}", "") for reason, count in sorted(report.dead_letters.items())),
        ("throughput", f"{report.throughput:,.0f}/s", throughput_note),
        ("consumer handler", f"{report.handler_rate:,.0f}/s", handler_note),
        (
            "latency",
            " / ".join(f"{value:,.0f}" for value in cuts.values()) + " ms",
            " / ".join(f"p{p}" for p in cuts) + ", request sent -> row committed",
        ),
        (
            "references first",
            f"{references:,}",
            "cancellations and payments sent ahead of their order: retried until it was in",
        ),
        *(
            (
                f"table {table.table}",
                f"{table.rows:,}",
                f"rows, {table.expected:,} implied by the stored events"
                + ("" if table.reconciled else f": {table.difference_count} off"),
            )
            for table in report.sink_tables
        ),
        ("reconciled", "yes" if report.reconciled else "NO", "; ".join(report.problems)),
    ]
    out.print(
        f"Sluice local demo: {report.sent:,} events in {report.requests:,} requests to {events_url}", markup=False
    )
    value_width = max(len(value) for _, value, _ in rows)
    for name, value, note in rows:
        out.print(f"  {name:<21}{value:>{value_width}}  {note}".rstrip(), markup=False)


def _registry_description(spec: str | None) -> str:
    if spec is None:
        return f"none ({env.PAYLOAD_REGISTRY} unset: every event type follows the unknown-type policy)"
    if spec == CATALOG_REGISTRY:
        return f"Sluice's sample catalog ({env.PAYLOAD_REGISTRY}={spec})"
    return f"{env.PAYLOAD_REGISTRY}={spec}"


def _print_where(pipeline: LocalPipeline) -> None:
    from sluice_ingest.logic import EVENTS_PATH  # noqa: PLC0415 - ~190 ms of imports, only once running

    topology = pipeline.queues.topology
    kind = pipeline.database_kind
    out.print("[bold]Sluice local pipeline is running[/bold] (Ctrl-C to stop)")
    rows = [
        ("ingest URL", f"{pipeline.ingest_url}{EVENTS_PATH}  (POST one event or a JSON array of events)"),
        ("SQS endpoint", pipeline.sqs_endpoint),
        (
            "queue",
            (
                f"{pipeline.queue_url}  (visibility {topology.effective_visibility_timeout_seconds} s, "
                f"maxReceiveCount {topology.max_receive_count}, batch {topology.batch_size}, "
                f"window {topology.batching_window_seconds} s)"
            ),
        ),
        ("DLQ", pipeline.dlq_url),
        ("database", f"{pipeline.masked_database_url}  ({', '.join(filter(None, [kind, pipeline.database_where]))})"),
        ("payload models", _registry_description(pipeline.config.payload_registry)),
        ("consumer role", f"{WRITER_ROLE}  (INSERT and SELECT on events; the migrations ran as the URL's user)"),
    ]
    for name, value in rows:
        out.print(f"  {name:<14} {value}", markup=False, highlight=False)
    out.print("In another shell:")
    for name, value in pipeline.exports().items():
        if name == env.DATABASE_URL and kind == DatabaseKind.EXPLICIT and mask_password(value) != value:
            # The user's own password is not echoed; a container's or cluster's is throwaway and loopback-only.
            out.print(f"  export {name}=...   (the URL you gave; its password is not printed)", markup=False)
            continue
        out.print(f"  export {name}='{value}'", markup=False)
    out.print('  sluice push ...   sluice dlq stats   psql "$SLUICE_DATABASE_URL"', markup=False)
    out.print(
        f"  curl -X POST {pipeline.ingest_url}{EVENTS_PATH} -H 'content-type: application/json' -d @event.json",
        markup=False,
    )


def _status_line(pipeline: LocalPipeline) -> str:
    stats = pipeline.event_source.stats
    depth = pipeline.depth()
    return (
        f"batches {stats.batches}, records {stats.records} (deleted {stats.deleted}, failed {stats.failed_records}); "
        f"queue: {depth.visible} waiting, {depth.in_flight} in flight"
    )


class _StopSignals:
    """SIGINT/SIGTERM: interrupt start-up (which then cleans up); once armed, request a graceful stop instead."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._armed = False

    def arm(self) -> None:
        self._armed = True

    def handle(self, _signum: int, _frame: object) -> None:
        if self._armed and not self.requested.is_set():
            self.requested.set()
            return
        raise KeyboardInterrupt  # during start-up, or a second Ctrl-C: unwind (every part is still stopped)


@contextmanager
def _stop_signals() -> Iterator[_StopSignals]:
    signals = _StopSignals()
    previous = {sig: signal.signal(sig, signals.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _configure_logging(level: str) -> None:
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False, log_time_format="%H:%M:%S")
    for name in ("sluice_cli", "sluice_local"):  # the CLI's own modules and the local pipeline's
        package = logging.getLogger(name)
        package.handlers[:] = [handler]
        package.setLevel(level.upper())
        package.propagate = False
    logging.getLogger("botocore").setLevel(logging.WARNING)
