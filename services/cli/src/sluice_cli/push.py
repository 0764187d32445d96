"""``sluice push``: stream events from a file, stdin or the sample generator to the queue.

Events go through the same publisher as the ingest function, and are read, validated and sent as they come:
memory stays flat whatever the size of the input. An event without an ``event_id`` is given a new UUIDv7
first, as the ingest function does. Only valid events are sent (``SendMessageBatch``, failed entries
retried), with ``--concurrency`` requests in flight at once (a FIFO message group keeps its order). A
progress bar shows the rate, and the ETA when the input's size is known. A summary says what was sent,
rejected (with reasons and where) and failed, and how many ids were assigned.

The input side is :mod:`sluice_cli.push_source`, the counts :mod:`sluice_cli.push_tally`, the progress bar
:mod:`sluice_cli.push_progress`.

Exit status: 0 all sent; 1 some could not be sent (queue trouble); 2 some were rejected (bad input), a JSON
array broke off, or a bad command line, file or configuration.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Annotated, Final

import typer

from sluice_cli.console import err, out
from sluice_cli.push_progress import ProgressBar
from sluice_cli.push_source import PushSource, feed, push_source
from sluice_cli.push_tally import PushTally
from sluice_cli.reader import EventReader, open_events
from sluice_shared import environment as env
from sluice_shared.aws import sqs_client
from sluice_shared.errors import ConfigurationError, InvalidMessageError
from sluice_shared.publisher import DEFAULT_FIFO_GROUP_FIELD, EventPublisher, EventResult, EventStatus
from sluice_shared.settings import ContractSettings
from sluice_shared.sqs import BatchSender, SqsQueue

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient

__all__ = [
    "DEFAULT_CONCURRENCY",
    "EXIT_INTERRUPTED",
    "EXIT_REJECTED",
    "EXIT_SEND_FAILED",
    "MAX_CONCURRENCY",
    "PushSource",
    "PushTally",
    "check_queue",
    "push",
    "push_events",
]

EXIT_SEND_FAILED: Final = 1
EXIT_REJECTED: Final = 2
EXIT_INTERRUPTED: Final = 130  # as sluice_cli.app (importing it here would be circular): shells' SIGINT status
# SendMessageBatch calls in flight. Four keep a real SQS endpoint (tens of ms a call) busy without outrunning
# validation on a small machine; tests/benchmarks/bench_push.py measures the gain.
DEFAULT_CONCURRENCY: Final = 4
# botocore keeps at most 10 connections per client (max_pool_connections): more calls would only queue for one.
MAX_CONCURRENCY: Final = 10


def check_queue(client: SQSClient, queue_url: str) -> None:
    """Fail fast, before sending anything, when the queue is missing, unreachable or the credentials are unusable.

    Raises:
        SluiceError: classified from the botocore error (``QueueNotFoundError``, ``QueueUnavailableError``,
            ``CredentialsError``, ``QueueAccessDeniedError``).
    """
    _ = SqsQueue(queue_url, client=client).arn


def push_events(
    publisher: EventPublisher,
    source: PushSource,
    tally: PushTally,
    *,
    validate: bool,
    correlation_id: str | None,
    max_in_flight: int,
    on_result: Callable[[EventResult], None] | None = None,
) -> PushTally:
    """Stream ``source`` through ``publisher`` into ``tally``: assign missing ids, count every result."""
    results = publisher.stream(
        feed(source.events, tally, assign_ids=validate),
        correlation_id=correlation_id,
        validate=validate,
        max_in_flight=max_in_flight,
    )
    try:
        for result in results:
            tally.record(result)
            if on_result is not None:
                on_result(result)
    finally:
        results.close()  # when interrupted: lets the requests in flight finish, sends nothing more
    return tally


def _dry_run(publisher: EventPublisher, source: PushSource, *, validate: bool) -> int:
    tally = PushTally(noun=source.noun)
    with ProgressBar(source, label="validating") as bar:
        for number, event in feed(source.events, tally, assign_ids=validate):
            try:
                publisher.prepare(event, validate=validate)
            except InvalidMessageError as exc:
                result = EventResult(number, None, EventStatus.REJECTED, error=exc)
            else:
                result = EventResult(number, None, EventStatus.QUEUED)
            tally.record(result)
            bar.advance(result)
    out.print(
        f"dry run: {tally.queued} valid, {tally.rejected} rejected of {tally.total} events; nothing sent", markup=False
    )
    if tally.assigned:
        out.print(f"events without an event_id: {tally.assigned} (a push gives each a new UUIDv7, as ingest does)")
    for line in tally.reason_lines(EventStatus.REJECTED):
        out.print(line, markup=False)
    _report_stop(tally)
    return EXIT_REJECTED if tally.rejected or tally.stopped else 0


def _report_stop(tally: PushTally) -> None:
    if tally.stopped is not None:
        err.print(f"error: {tally.stopped.reason}; the input was read up to there", markup=False)


def push(  # noqa: PLR0917 - Typer maps each parameter to an option
    source: Annotated[
        str | None,
        typer.Argument(metavar="FILE|-", help="JSON Lines or JSON array file of events; '-' reads stdin."),
    ] = None,
    queue_url: Annotated[
        str | None, typer.Option("--queue-url", envvar=env.QUEUE_URL, show_envvar=True, help="The SQS queue URL.")
    ] = None,
    generate: Annotated[
        int | None, typer.Option("--generate", min=1, help="Push N realistic sample events instead of a file.")
    ] = None,
    invalid_ratio: Annotated[
        float, typer.Option("--invalid-ratio", min=0.0, max=1.0, help="With --generate: share of invalid events.")
    ] = 0.0,
    duplicate_ratio: Annotated[
        float,
        typer.Option("--duplicate-ratio", min=0.0, max=1.0, help="With --generate: share of exact duplicates."),
    ] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", help="With --generate: reproducible events.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; send nothing.")] = False,
    skip_validation: Annotated[
        bool,
        typer.Option(
            "--skip-validation",
            help="Send events exactly as they are, no id assigned (to exercise the consumer's DLQ path).",
        ),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            max=MAX_CONCURRENCY,
            envvar=env.PUSH_CONCURRENCY,
            show_envvar=True,
            help="SendMessageBatch requests in flight at once (a FIFO message group still goes in order).",
        ),
    ] = DEFAULT_CONCURRENCY,
    fifo_group_field: Annotated[
        str,
        typer.Option(
            "--fifo-group-field",
            envvar=env.FIFO_GROUP_FIELD,
            show_envvar=True,
            help="FIFO queues: envelope field or payload.<path> giving the message group id.",
        ),
    ] = DEFAULT_FIFO_GROUP_FIELD,
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", help="Attached to every message (default: a new UUID).")
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="SQS endpoint (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, else the queue URL's if not AWS's).",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="AWS region (default: the queue URL's, else AWS_REGION, AWS_DEFAULT_REGION or the profile's).",
        ),
    ] = None,
) -> None:
    """Validate events and send the valid ones as they are read; print what was sent, rejected and failed."""
    if (invalid_ratio or duplicate_ratio or seed is not None) and generate is None:
        raise typer.BadParameter("--invalid-ratio, --duplicate-ratio and --seed go with --generate")
    if (source is None) == (generate is None):
        raise typer.BadParameter("give a FILE (or '-' for stdin), or --generate N, but not both")
    settings = ContractSettings()
    validate = not skip_validation

    def publisher_for(sender: BatchSender) -> EventPublisher:
        return EventPublisher(
            sender,
            registry=settings.build_registry(),
            max_body_bytes=settings.max_body_bytes,
            fifo_group_field=fifo_group_field,
        )

    opened: AbstractContextManager[EventReader | None] = open_events(source) if source else nullcontext()
    with opened as reader:
        events = push_source(reader, generate, (invalid_ratio, duplicate_ratio), seed)
        if dry_run:
            # No client is built: BatchSender creates one on its first send, which a dry run never makes.
            raise typer.Exit(_dry_run(publisher_for(BatchSender(queue_url or "")), events, validate=validate))
        if not queue_url:
            raise ConfigurationError(f"no queue: pass --queue-url or set {env.QUEUE_URL}")
        try:
            client = sqs_client(queue=queue_url, endpoint_url=endpoint_url, region_name=region)
        except ValueError as exc:  # botocore validates the endpoint URL while building the client
            raise ConfigurationError(f"invalid endpoint URL {endpoint_url!r}: {exc}") from exc
        check_queue(client, queue_url)
        correlation_id = correlation_id or str(uuid.uuid4())
        tally = PushTally(noun=events.noun)
        interrupted = False
        try:
            with ProgressBar(events, label="pushing") as bar:
                push_events(
                    publisher_for(BatchSender(queue_url, client=client)),
                    events,
                    tally,
                    validate=validate,
                    correlation_id=correlation_id,
                    max_in_flight=concurrency,
                    on_result=bar.advance,
                )
        except KeyboardInterrupt:
            interrupted = True
    for line in tally.summary(destination=queue_url):
        out.print(line, markup=False)
    out.print(f"correlation id: {correlation_id}", markup=False)
    _report_stop(tally)
    if interrupted:
        # The request being answered when Ctrl-C came may have been sent without being counted: sending the
        # rest again is safe, as the consumer stores each event_id once.
        err.print("interrupted: the counts above are what had settled; the rest of the input was not sent")
        raise typer.Exit(EXIT_INTERRUPTED)
    if tally.failed:
        raise typer.Exit(EXIT_SEND_FAILED)
    if tally.rejected or tally.stopped:
        raise typer.Exit(EXIT_REJECTED)
