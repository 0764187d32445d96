"""``sluice push``: send events from a file, stdin or the sample generator to the queue.

Events go through the same publisher as the ingest function: each one is validated, only valid ones are
sent (``SendMessageBatch``, failed entries retried), and a summary says what was sent, rejected (with
reasons) and failed. The input is read and parsed completely before anything is sent, so a file with bad
JSON sends nothing. Exit status: 0 all sent; 1 some could not be sent (queue trouble); 2 some were rejected
(bad input), or a bad command line, file or configuration.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from sluice_cli.console import err, out
from sluice_cli.generate import generate_events
from sluice_shared import environment as env
from sluice_shared.aws import classify_boto_error, sqs_client
from sluice_shared.errors import ConfigurationError, InvalidMessageError, MalformedMessageError, SluiceError
from sluice_shared.publisher import (
    DEFAULT_FIFO_GROUP_FIELD,
    EventPublisher,
    EventResult,
    EventStatus,
    PublishReceipt,
)
from sluice_shared.settings import ContractSettings
from sluice_shared.sqs import BatchSender

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_sqs import SQSClient

__all__ = ["EXIT_REJECTED", "EXIT_SEND_FAILED", "Input", "check_queue", "push", "read_events", "summary_lines"]

EXIT_SEND_FAILED: Final = 1
EXIT_REJECTED: Final = 2
# Below this many events the run is over before a progress bar would tell anyone anything.
PROGRESS_MIN_EVENTS: Final = 200
EXAMPLES_PER_REASON: Final = 3
REASONS_SHOWN: Final = 20


@dataclass(frozen=True, slots=True)
class Input:
    """Events to push, with where each came from (``line 7`` of a file, ``event 3`` of an array)."""

    events: list[Any]
    labels: list[str]


def read_events(source: str) -> Input:
    """Read a JSON Lines file, a JSON array file, or stdin (``-``); the format is taken from the first character.

    Raises:
        ConfigurationError: the file cannot be read.
        MalformedMessageError: the input is not UTF-8 or not valid JSON (naming the line).
    """
    name = "stdin" if source == "-" else source
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except FileNotFoundError as exc:
        raise ConfigurationError(f"cannot read events: {name}: no such file") from exc
    except IsADirectoryError as exc:
        raise ConfigurationError(f"cannot read events: {name} is a directory") from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read events: {name}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedMessageError.single(None, f"{name}: not UTF-8 text (byte {exc.start})") from exc
    if text.lstrip().startswith("["):
        document = _loads(text, name, line=None)
        return Input(document, [f"event {index}" for index in range(len(document))])
    events: list[Any] = []
    labels: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            events.append(_loads(line, name, line=number))
            labels.append(f"line {number}")
    return Input(events, labels)


def _loads(text: str, name: str, *, line: int | None) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where = f"line {line if line is not None else exc.lineno}, column {exc.colno}"
        raise MalformedMessageError.single(None, f"{name}: bad JSON at {where}: {exc.msg}") from exc
    except ValueError as exc:
        raise MalformedMessageError.single(None, f"{name}: bad JSON at line {line or '?'}: {exc}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def check_queue(client: SQSClient, queue_url: str) -> None:
    """Fail fast, before sending anything, when the queue is missing, unreachable or the credentials are unusable.

    Raises:
        SluiceError: classified from the botocore error (``QueueNotFoundError``, ``QueueUnavailableError``,
            ``CredentialsError``, ``QueueAccessDeniedError``).
    """
    try:
        client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except Exception as exc:
        raise classify_boto_error(exc) from exc


def summary_lines(receipt: PublishReceipt, labels: Sequence[str], *, destination: str) -> list[str]:
    """The end-of-run summary: counts, then each rejection and failure reason with a few examples."""
    counts = f"sent {len(receipt.queued)}, rejected {len(receipt.rejected)}, failed {len(receipt.failed)}"
    lines = [f"{counts} of {len(receipt.results)} events to {destination}"]
    for title, results in (("rejected", receipt.rejected), ("failed", receipt.failed)):
        lines.extend(_reasons(title, results, labels))
    return lines


def _reasons(title: str, results: Sequence[EventResult], labels: Sequence[str]) -> list[str]:
    if not results:
        return []
    by_reason: dict[str, list[EventResult]] = {}
    for result in results:
        by_reason.setdefault(_reason(result.error), []).append(result)
    lines = [f"{title}:"]
    ranked = Counter({reason: len(items) for reason, items in by_reason.items()}).most_common()
    for reason, count in ranked[:REASONS_SHOWN]:
        examples = ", ".join(labels[r.index] for r in by_reason[reason][:EXAMPLES_PER_REASON])
        more = ", ..." if count > EXAMPLES_PER_REASON else ""
        lines.append(f"  {count} x {reason} ({examples}{more})")
    if len(ranked) > REASONS_SHOWN:
        lines.append(f"  ... and {len(ranked) - REASONS_SHOWN} other reasons")
    return lines


def _reason(error: SluiceError | None) -> str:
    if error is None:
        return "unknown"
    if isinstance(error, InvalidMessageError):
        return "; ".join(str(item) for item in error.errors)
    return f"{error.code}: {error.message}"


class _RateColumn(ProgressColumn):
    """Events per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "- events/s")


def _progress(total: int) -> Progress:
    return Progress(
        TextColumn("pushing"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=total < PROGRESS_MIN_EVENTS,
    )


def _load(source: str | None, generate: int | None, invalid: float, duplicate: float, seed: int | None) -> Input:
    if (source is None) == (generate is None):
        raise typer.BadParameter("give a FILE (or '-' for stdin), or --generate N, but not both")
    if generate is not None:
        try:
            events = list(generate_events(generate, invalid_ratio=invalid, duplicate_ratio=duplicate, seed=seed))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        return Input(events, [f"event {index}" for index in range(len(events))])
    assert source is not None  # noqa: S101 - narrowed by the check above
    return read_events(source)


def _dry_run(publisher: EventPublisher, loaded: Input, *, validate: bool) -> int:
    rejected: list[EventResult] = []
    for index, event in enumerate(loaded.events):
        try:
            publisher.prepare(event, validate=validate)
        except InvalidMessageError as exc:
            rejected.append(EventResult(index, None, EventStatus.REJECTED, error=exc))
    valid = len(loaded.events) - len(rejected)
    out.print(f"dry run: {valid} valid, {len(rejected)} rejected of {len(loaded.events)} events; nothing sent")
    for line in _reasons("rejected", rejected, loaded.labels):
        out.print(line, markup=False)
    return EXIT_REJECTED if rejected else 0


def _send(publisher: EventPublisher, loaded: Input, *, validate: bool, correlation_id: str) -> PublishReceipt:
    with _progress(len(loaded.events)) as progress:
        task = progress.add_task("push", total=len(loaded.events))

        def advance(results: Sequence[EventResult]) -> None:
            progress.advance(task, len(results))

        return publisher.publish(loaded.events, correlation_id=correlation_id, validate=validate, on_progress=advance)


def push(  # noqa: PLR0917 - Typer maps each parameter to an option
    source: Annotated[
        str | None,
        typer.Argument(metavar="[FILE|-]", help="JSON Lines or JSON array file of events; '-' reads stdin."),
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
        typer.Option("--skip-validation", help="Send events as they are (to exercise the consumer's DLQ path)."),
    ] = False,
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
    """Validate events and send the valid ones to the queue; print what was sent, rejected and failed."""
    if (invalid_ratio or duplicate_ratio or seed is not None) and generate is None:
        raise typer.BadParameter("--invalid-ratio, --duplicate-ratio and --seed go with --generate")
    loaded = _load(source, generate, invalid_ratio, duplicate_ratio, seed)
    settings = ContractSettings()
    validate = not skip_validation

    def publisher_for(sender: BatchSender) -> EventPublisher:
        return EventPublisher(
            sender,
            registry=settings.build_registry(),
            max_body_bytes=settings.max_body_bytes,
            fifo_group_field=fifo_group_field,
        )

    if dry_run:
        # No client is built: BatchSender creates one on its first send, which a dry run never makes.
        code = _dry_run(publisher_for(BatchSender(queue_url or "")), loaded, validate=validate)
        raise typer.Exit(code)
    if not queue_url:
        raise ConfigurationError(f"no queue: pass --queue-url or set {env.QUEUE_URL}")
    try:
        client = sqs_client(queue=queue_url, endpoint_url=endpoint_url, region_name=region)
    except ValueError as exc:  # botocore validates the endpoint URL while building the client
        raise ConfigurationError(f"invalid endpoint URL {endpoint_url!r}: {exc}") from exc
    check_queue(client, queue_url)
    correlation_id = correlation_id or str(uuid.uuid4())
    receipt = _send(
        publisher_for(BatchSender(queue_url, client=client)), loaded, validate=validate, correlation_id=correlation_id
    )
    for line in summary_lines(receipt, loaded.labels, destination=queue_url):
        out.print(line, markup=False)
    out.print(f"correlation id: {correlation_id}", markup=False)
    if receipt.failed:
        raise typer.Exit(EXIT_SEND_FAILED)
    if receipt.rejected:
        raise typer.Exit(EXIT_REJECTED)
