"""``sluice local``: run the whole pipeline on this machine (``up``) or show it working end to end (``demo``).

Commands are thin: they build a :class:`~sluice_cli.local.pipeline.PipelineConfig` from options, run a
:class:`~sluice_cli.local.pipeline.LocalPipeline` and print. SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Final

import typer
from rich.logging import RichHandler

from sluice_cli.console import err, out
from sluice_cli.local.pipeline import DEFAULT_QUEUE_NAME, LOCAL_POLL_WAIT_SECONDS, LocalPipeline, PipelineConfig
from sluice_cli.local.queues import LOCAL_TOPOLOGY
from sluice_shared import environment as env
from sluice_shared.topology import QueueTopology

__all__ = ["app"]

STATUS_INTERVAL_SECONDS: Final = 5.0

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
    log_level: LogLevelOption = "INFO",
) -> None:
    """Start the pipeline on loopback and run until Ctrl-C; print where everything is."""
    _configure_logging(log_level)
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
    err.print("stopped; nothing left running")


def _print_where(pipeline: LocalPipeline) -> None:
    topology = pipeline.queues.topology
    out.print("[bold]Sluice local pipeline is running[/bold] (Ctrl-C to stop)")
    rows = [
        ("ingest URL", f"{pipeline.ingest_url}/  (POST events as JSON)"),
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
        ("database", f"{pipeline.masked_database_url}  ({pipeline.database_kind})"),
    ]
    for name, value in rows:
        out.print(f"  {name:<13} {value}", markup=False, highlight=False)
    out.print("In another shell:")
    for name, value in pipeline.exports().items():
        out.print(f"  export {name}='{value}'", markup=False)
    out.print('  sluice push ...   sluice dlq stats   psql "$SLUICE_DATABASE_URL"', markup=False)


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
    root = logging.getLogger("sluice_cli")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    logging.getLogger("botocore").setLevel(logging.WARNING)
