"""``sluice push``: stream events from a file, stdin or the sample generator to the queue.

Events go through the same publisher as the ingest function, and are read, validated and sent as they come:
memory stays flat whatever the size of the input. An event without an ``event_id`` is given a new UUIDv7
first, as the ingest function does. Only valid events are sent (``SendMessageBatch``, failed entries
retried), with ``--concurrency`` requests in flight at once (a FIFO message group keeps its order). A
progress bar shows the rate, and the ETA when the input's size is known. A summary says what was sent,
rejected (with reasons and where) and failed, and how many ids were assigned.

Exit status: 0 all sent; 1 some could not be sent (queue trouble); 2 some were rejected (bad input), a JSON
array broke off, or a bad command line, file or configuration.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from sluice_cli.console import err, out
from sluice_cli.generate import generate_events
from sluice_cli.reader import EventReader, Unreadable, open_events
from sluice_shared import environment as env
from sluice_shared.aws import botocore_errors, classify_sqs_error, sqs_client
from sluice_shared.errors import ConfigurationError, InvalidMessageError, MalformedMessageError, SluiceError
from sluice_shared.ids import lacks_event_id, with_event_id
from sluice_shared.publisher import DEFAULT_FIFO_GROUP_FIELD, EventPublisher, EventResult, EventStatus
from sluice_shared.settings import ContractSettings
from sluice_shared.sqs import BatchSender

if TYPE_CHECKING:
    from collections.abc import Iterable

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
EXAMPLES_PER_REASON: Final = 3
REASONS_SHOWN: Final = 20
# Distinct reasons remembered per outcome: an input where every event fails differently stays bounded.
REASONS_KEPT: Final = 1000
OTHER_REASONS: Final = "other reasons (too many distinct ones to list)"
# The progress bar is redrawn a few times a second at most: updating it for every event would cost more.
PROGRESS_INTERVAL_SECONDS: Final = 0.1


@dataclass(slots=True)
class _Reason:
    count: int = 0
    examples: list[int] = field(default_factory=list)


@dataclass(slots=True)
class PushTally:
    """Counts and a few examples per reason, kept as results stream in: never one entry per event."""

    noun: str = "event"
    """What an example is called: ``line`` (JSON Lines, by line number) or ``event`` (by position)."""
    queued: int = 0
    rejected: int = 0
    failed: int = 0
    assigned: int = 0
    """Events that had no ``event_id`` and were given one."""
    stopped: MalformedMessageError | None = None
    """Why reading stopped early (a JSON array that broke off), if it did."""
    _reasons: dict[EventStatus, dict[str, _Reason]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Events (and unreadable lines) accounted for."""
        return self.queued + self.rejected + self.failed

    def record(self, result: EventResult) -> None:
        """Count one result; remember its reason, and the event as an example, when it was not queued."""
        if result.status is EventStatus.QUEUED:
            self.queued += 1
            return
        if result.status is EventStatus.REJECTED:
            self.rejected += 1
        else:
            self.failed += 1
        reasons = self._reasons.setdefault(result.status, {})
        reason = _reason(result.error)
        if reason not in reasons and len(reasons) >= REASONS_KEPT:
            reason = OTHER_REASONS
        entry = reasons.setdefault(reason, _Reason())
        entry.count += 1
        if len(entry.examples) < EXAMPLES_PER_REASON:
            entry.examples.append(result.index)

    def reject(self, number: int, error: InvalidMessageError) -> None:
        """Count an input line that is not an event at all."""
        self.record(EventResult(number, None, EventStatus.REJECTED, error=error))

    def reason_lines(self, status: EventStatus) -> list[str]:
        """``rejected:`` / ``failed:`` then each reason, most frequent first, with up to three examples."""
        reasons = self._reasons.get(status)
        if not reasons:
            return []
        lines = [f"{status.value}:"]
        ranked = sorted(reasons.items(), key=lambda item: -item[1].count)
        for reason, entry in ranked[:REASONS_SHOWN]:
            examples = ", ".join(f"{self.noun} {index}" for index in entry.examples)
            more = ", ..." if entry.count > len(entry.examples) else ""
            lines.append(f"  {entry.count} x {reason} ({examples}{more})")
        if len(ranked) > REASONS_SHOWN:
            lines.append(f"  ... and {len(ranked) - REASONS_SHOWN} other reasons")
        return lines

    def summary(self, *, destination: str) -> list[str]:
        """The end-of-run summary: counts, ids assigned, then each rejection and failure reason."""
        counts = f"sent {self.queued}, rejected {self.rejected}, failed {self.failed}"
        lines = [f"{counts} of {self.total} events to {destination}"]
        if self.assigned:
            lines.append(f"event ids assigned: {self.assigned} (events without one get a new UUIDv7, as at ingest)")
        return [*lines, *self.reason_lines(EventStatus.REJECTED), *self.reason_lines(EventStatus.FAILED)]


def _reason(error: SluiceError | None) -> str:
    if error is None:
        return "unknown"
    if isinstance(error, InvalidMessageError):
        return "; ".join(str(item) for item in error.errors)
    return f"{error.code}: {error.message}"


def check_queue(client: SQSClient, queue_url: str) -> None:
    """Fail fast, before sending anything, when the queue is missing, unreachable or the credentials are unusable.

    Raises:
        SluiceError: classified from the botocore error (``QueueNotFoundError``, ``QueueUnavailableError``,
            ``CredentialsError``, ``QueueAccessDeniedError``).
    """
    try:
        client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except botocore_errors() as exc:
        raise classify_sqs_error(exc) from exc


@dataclass(slots=True)
class PushSource:
    """Numbered events to push, what one is called in examples, and how far through the input the run is."""

    events: Iterable[tuple[int, Any]]
    noun: str
    total: int | None
    """Known size: bytes of a file, or the count of generated events; None for a pipe."""
    position: Callable[[], int]
    """Progress towards ``total``: bytes read, or events handed over when ``total`` counts events."""
    total_is_bytes: bool = True


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
        _feed(source.events, tally, assign_ids=validate),
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


def _feed(events: Iterable[tuple[int, Any]], tally: PushTally, *, assign_ids: bool) -> Iterator[tuple[int, Any]]:
    """The events the publisher sees: unreadable lines counted as rejected, missing ids assigned."""
    try:
        for number, event in events:
            if isinstance(event, Unreadable):
                tally.reject(number, event.error)
            elif assign_ids and lacks_event_id(event):
                tally.assigned += 1
                yield number, with_event_id(event)
            else:
                yield number, event
    except MalformedMessageError as exc:  # a JSON array broke off: what came before it is still sent
        tally.stopped = exc


class _RateColumn(ProgressColumn):
    """Events settled and events per second."""

    def render(self, task: Task) -> Text:
        events = int(task.fields.get("events", 0))
        elapsed = task.finished_time or task.elapsed or 0.0
        rate = f"{events / elapsed:,.0f} events/s" if elapsed > 0 and events else "- events/s"
        return Text(f"{events:,} events  {rate}")


class _ProgressBar:
    """A progress bar on stderr (only when it is a terminal), redrawn at most every 0.1 s."""

    def __init__(self, source: PushSource, *, label: str) -> None:
        self._source = source
        columns: list[str | ProgressColumn] = [TextColumn(label), BarColumn()]
        if source.total is not None and source.total_is_bytes:
            columns.append(DownloadColumn())
        columns += [_RateColumn(), TimeElapsedColumn()]
        if source.total is not None:  # an ETA needs a known size: a file's, or the count of generated events
            columns += [TextColumn("ETA"), TimeRemainingColumn()]
        self._progress = Progress(*columns, console=err, disable=not err.is_terminal)
        self._task = self._progress.add_task(label, total=source.total, events=0)
        self._events = 0
        self._next_draw = 0.0

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._draw()
        self._progress.stop()

    def advance(self, _result: EventResult) -> None:
        self._events += 1
        now = time.monotonic()
        if now >= self._next_draw:
            self._next_draw = now + PROGRESS_INTERVAL_SECONDS
            self._draw()

    def _draw(self) -> None:
        self._progress.update(self._task, completed=self._source.position(), events=self._events)


def _source(
    reader: EventReader | None, generate: int | None, ratios: tuple[float, float], seed: int | None
) -> PushSource:
    if reader is not None:
        return PushSource(reader, reader.noun, reader.size, lambda: reader.bytes_read)
    assert generate is not None  # noqa: S101 - the command checks that exactly one source is given
    invalid, duplicate = ratios
    generated = generate_events(generate, invalid_ratio=invalid, duplicate_ratio=duplicate, seed=seed)
    try:
        first = next(generated, None)  # the generator checks its ratios on its first step
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    handed_over = [0]

    def numbered() -> Iterator[tuple[int, Any]]:
        for index, event in enumerate(chain([] if first is None else [first], generated)):
            handed_over[0] = index + 1
            yield index, event

    return PushSource(numbered(), "event", generate, lambda: handed_over[0], total_is_bytes=False)


def _dry_run(publisher: EventPublisher, source: PushSource, *, validate: bool) -> int:
    tally = PushTally(noun=source.noun)
    with _ProgressBar(source, label="validating") as bar:
        for number, event in _feed(source.events, tally, assign_ids=validate):
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
        events = _source(reader, generate, (invalid_ratio, duplicate_ratio), seed)
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
            with _ProgressBar(events, label="pushing") as bar:
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
