"""``sluice dlq``: thin Typer commands over the plain functions of this package.

Every command names the DLQ with ``--queue`` (URL, name or ARN; ``SLUICE_DLQ_URL``) and reaches SQS as
:func:`sluice_shared.aws.sqs_client` resolves it: ``--region`` and ``--endpoint-url`` first, then the region
and endpoint a queue URL or ARN names, the standard variables (``AWS_REGION``, ``AWS_ENDPOINT_URL``, ...),
``AWS_PROFILE`` and the credential chain. Errors are Sluice errors: ``sluice_cli.app.main`` turns
them into one line and exit 2 (bad input or configuration) or 1 (the queue failed or something was not moved).
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sluice_cli.console import err, out
from sluice_cli.dlq.archive import JsonLinesArchive
from sluice_cli.dlq.filters import MessageFilter, parse_duration
from sluice_cli.dlq.inspection import collect_stats, peek
from sluice_cli.dlq.purge import purge_older_than
from sluice_cli.dlq.queue import SqsDeadLetterQueue, SqsQueues
from sluice_cli.dlq.rate import TokenBucket
from sluice_cli.dlq.redrive import MAX_REDRIVE_RATE, cancel_redrive, redrive_status, start_redrive
from sluice_cli.dlq.render import (
    peek_json,
    peek_table,
    print_purge_summary,
    print_replay_summary,
    stats_json,
    stats_table,
    tasks_table,
)
from sluice_cli.dlq.replay import (
    DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
    ReplayOptions,
    ReplayReport,
    SourceQueues,
    replay,
)
from sluice_shared import environment as env
from sluice_shared.aws import sqs_client
from sluice_shared.errors import ConfigurationError
from sluice_shared.limits import SQS_MAX_RECEIVE_MESSAGES, SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
from sluice_shared.sqs import BatchSender

__all__ = ["app"]

EXIT_FAILED: Final = 1  # mirrors sluice_cli.app.EXIT_FAILED (importing app here would be circular)

app = typer.Typer(
    help="Work the dead-letter queue: see why messages failed, put them back safely, or delete them.",
    no_args_is_help=True,
)

Queue = Annotated[
    str,
    typer.Option("--queue", "-q", envvar=env.DLQ_URL, help="The dead-letter queue: URL, name or ARN."),
]
Region = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="AWS region (default: the queue URL's or ARN's, else AWS_REGION, AWS_DEFAULT_REGION or the profile's).",
    ),
]
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="SQS endpoint (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, else the queue URL's host if not AWS's).",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]


def _connect(queue: str, region: str | None, endpoint: str | None) -> tuple[SqsQueues, SqsDeadLetterQueue]:
    """Build the SQS client and find the DLQ (raises ``QueueNotFoundError`` with the region when it is not there)."""
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415 - boto3 loads on first use only

    try:
        client = sqs_client(queue=queue, endpoint_url=endpoint, region_name=region)
    except (BotoCoreError, ValueError) as exc:  # botocore validates the region name and endpoint URL here
        raise ConfigurationError(f"cannot create an SQS client: {exc}") from exc
    queues = SqsQueues(client)
    return queues, SqsDeadLetterQueue(client, queues.find(queue))


def _nothing_to_do(dlq: SqsDeadLetterQueue) -> bool:
    """True (and says so) when the DLQ holds no visible message."""
    depth = dlq.depth()
    if depth.visible:
        return False
    busy = f" ({depth.in_flight} in flight elsewhere)" if depth.in_flight else ""
    err.print(f"nothing to do: {dlq.info.name} has no visible messages{busy}", markup=False)
    return True


@app.command("stats")
def stats_command(
    *,
    queue: Queue,
    scan_limit: Annotated[
        int, typer.Option("--scan-limit", min=1, help="Read at most this many messages for the per-type counts.")
    ] = 1000,
    as_json: Json = False,
    region: Region = None,
    endpoint_url: Endpoint = None,
) -> None:
    """Depth, age of the oldest message, and counts by error type and by event type."""
    _, dlq = _connect(queue, region, endpoint_url)
    stats = collect_stats(dlq, scan_limit=scan_limit)
    if as_json:
        out.print(stats_json(dlq.info.name, stats), markup=False)
        return
    out.print(stats_table(dlq.info.name, stats))
    if not stats.depth.total:
        err.print(f"nothing to do: {dlq.info.name} is empty", markup=False)
    elif not stats.complete:
        err.print(
            f"counts and age are from {stats.scanned} messages read; raise --scan-limit to read more", markup=False
        )


@app.command("peek")
def peek_command(
    *,
    queue: Queue,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many messages.")] = 10,
    as_json: Json = False,
    region: Region = None,
    endpoint_url: Endpoint = None,
) -> None:
    """Show messages with their error, receive count, age, event id and body, without consuming them.

    Each message is visible again as soon as the peek ends; reading one increments its receive count.
    """
    _, dlq = _connect(queue, region, endpoint_url)
    messages = peek(dlq, limit=limit)
    now = datetime.now(UTC)
    if as_json:
        out.print(peek_json(messages, now=now), markup=False)
    elif messages:
        out.print(peek_table(messages, now=now))
    if not messages:
        err.print(f"nothing to do: {dlq.info.name} has no visible messages", markup=False)


@app.command("replay")
def replay_command(
    *,
    queue: Queue,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Send here (URL, name or ARN) instead of each message's source queue.", show_default=False
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be replayed; move nothing.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Replay at most this many.")] = None,
    rate: Annotated[float | None, typer.Option("--rate", min=0.01, help="At most this many messages a second.")] = None,
    error_types: Annotated[
        list[str] | None, typer.Option("--error-type", help="Only this error code (repeatable).", show_default=False)
    ] = None,
    event_types: Annotated[
        list[str] | None, typer.Option("--event-type", help="Only this event type (repeatable).", show_default=False)
    ] = None,
    older_than: Annotated[str | None, typer.Option("--older-than", help="Only messages older than, e.g. 2h.")] = None,
    newer_than: Annotated[str | None, typer.Option("--newer-than", help="Only messages newer than, e.g. 15m.")] = None,
    where: Annotated[
        str | None, typer.Option("--where", help="Only bodies where this JMESPath is truthy, e.g. \"source=='web'\".")
    ] = None,
    archive: Annotated[
        Path | None, typer.Option("--archive", help="Append each body to this JSON Lines file before sending it.")
    ] = None,
    visibility_timeout: Annotated[
        int,
        typer.Option(
            "--visibility-timeout",
            min=1,
            max=SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
            help="Seconds a message being replayed stays hidden; after a crash it reappears within this time.",
        ),
    ] = DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
    region: Region = None,
    endpoint_url: Endpoint = None,
) -> None:
    """Move messages back to their source queue (or --to): send first, delete from the DLQ only once sent."""
    message_filter = MessageFilter.build(
        error_types=error_types or (),
        event_types=event_types or (),
        older_than=older_than,
        newer_than=newer_than,
        where=where,
    )
    queues, dlq = _connect(queue, region, endpoint_url)
    if _nothing_to_do(dlq):
        return
    targets = SourceQueues(queues, dlq.info, to=to)
    bucket = None
    if rate is not None:
        bucket = TokenBucket(rate, capacity=max(1, min(SQS_MAX_RECEIVE_MESSAGES, math.floor(rate))))
        # A received batch waits for the rate before it is sent: keep it hidden at least twice that long.
        visibility_timeout = max(visibility_timeout, math.ceil(2 * bucket.capacity / rate) + 1)
    options = ReplayOptions(
        message_filter=message_filter, limit=limit, dry_run=dry_run, visibility_timeout=visibility_timeout
    )
    total = limit if limit is not None else dlq.depth().visible
    report = ReplayReport()
    with ExitStack() as stack:
        writer = stack.enter_context(JsonLinesArchive(archive)) if archive is not None and not dry_run else None
        progress = stack.enter_context(
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )
        )
        task = progress.add_task("dry run" if dry_run else "replaying", total=total)

        def advance(current: ReplayReport) -> None:
            done = current.would_replay if dry_run else current.replayed + current.not_deleted + current.failed
            progress.update(task, completed=done if limit is not None else current.scanned)

        try:
            replay(
                dlq,
                targets=targets,
                sender_for=lambda target: BatchSender(target.url, client=queues.client),
                options=options,
                rate=bucket,
                archive=writer,
                report=report,
                on_progress=advance,
            )
        except KeyboardInterrupt:
            progress.stop()
            print_replay_summary(err, report, interrupted=True)
            raise
    print_replay_summary(out, report)
    if dry_run and dlq.fifo:
        # SQS returns no further message of a FIFO group while earlier ones are held by this run.
        err.print("FIFO: a dry run counts at most one receive's worth of messages per message group", markup=False)
    if report.error is not None:
        raise report.error
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@app.command("redrive")
def redrive_command(
    *,
    queue: Queue,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Move here (URL, name or ARN); default: the DLQ's source queue.", show_default=False),
    ] = None,
    rate: Annotated[
        int | None,
        typer.Option("--rate", min=1, max=MAX_REDRIVE_RATE, help="Messages a second (SQS default: as fast as it can)."),
    ] = None,
    status: Annotated[bool, typer.Option("--status", help="Show the DLQ's recent redrive tasks.")] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancel the running redrive task.")] = False,
    region: Region = None,
    endpoint_url: Endpoint = None,
) -> None:
    """Bulk-move every message with SQS's native redrive (StartMessageMoveTask); see also --status, --cancel."""
    if status and cancel:
        raise ConfigurationError("--status and --cancel cannot be used together")
    queues, dlq = _connect(queue, region, endpoint_url)
    if status:
        tasks = redrive_status(queues, dlq.info)
        if tasks:
            out.print(tasks_table(tasks))
        else:
            err.print(f"no redrive tasks on {dlq.info.name}", markup=False)
        return
    if cancel:
        cancelled = cancel_redrive(queues, dlq.info)
        if cancelled is None:
            err.print(f"nothing to do: no redrive is running on {dlq.info.name}", markup=False)
        else:
            out.print(f"cancelling redrive of {dlq.info.name}: {cancelled[1]} messages were moved", markup=False)
        return
    if _nothing_to_do(dlq):
        return
    started = start_redrive(queues, dlq.info, to=to, rate=rate)
    where = started.destination.name if started.destination else "each message's original source queue"
    speed = f"{rate}/s" if rate else "SQS's own pace"
    out.print(f"redrive started from {dlq.info.name} to {where} at {speed} (task {started.handle})", markup=False)
    err.print("follow it with 'sluice dlq redrive --status', stop it with 'sluice dlq redrive --cancel'", markup=False)


@app.command("purge")
def purge_command(
    *,
    queue: Queue,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Delete only messages older than this, e.g. 7d.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")] = False,
    region: Region = None,
    endpoint_url: Endpoint = None,
) -> None:
    """Delete dead letters for good: every one (PurgeQueue) or only those older than --older-than."""
    age = parse_duration(older_than) if older_than is not None else None
    _, dlq = _connect(queue, region, endpoint_url)
    depth = dlq.depth()
    name = dlq.info.name
    if not depth.total:
        err.print(f"nothing to do: {name} is empty", markup=False)
        return
    what = f"messages older than {older_than}" if age is not None else "ALL messages"
    if not yes and not typer.confirm(f"Delete {what} from {name} (about {depth.total} in it)?", err=True):
        err.print("nothing deleted", markup=False)
        raise typer.Exit(EXIT_FAILED)
    if age is None:
        dlq.purge()
        out.print(f"purged {name}: about {depth.total} messages deleted (SQS completes a purge within 60 s)")
        return
    report = purge_older_than(dlq, older_than=age)
    print_purge_summary(out, report, older_than=str(older_than))
    if report.error is not None:
        raise report.error
    if report.not_deleted:
        raise typer.Exit(EXIT_FAILED)
