"""``sluice dlq replay``: move dead letters back to their source queue, never losing one.

The order for every message is: receive (hidden from other readers) -> archive line written and flushed ->
send to the target queue -> delete from the DLQ only for the sends SQS confirmed. A crash or Ctrl-C at any
point may leave a message both in the target and in the DLQ (a duplicate, harmless because writes are
idempotent on ``event_id``); it never removes a message from the DLQ that was not sent. Messages that fail
to send, and messages skipped by the filter, stay in the DLQ and are made visible again when the run ends.

On FIFO queues each message keeps its ``MessageGroupId`` and gets a fresh deduplication id (the original may
still be inside the target's 5-minute deduplication window, where SQS would silently drop the replay). A
group's messages are sent one round at a time, in the order the DLQ delivered them, so a later message is
sent only after the earlier one was confirmed; a message that is skipped or fails holds back the rest of its
group for this run.
"""

from __future__ import annotations

import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

from sluice_cli.dlq.filters import MessageFilter
from sluice_cli.dlq.scan import DEFAULT_WAIT_SECONDS, Scan
from sluice_shared.dead_letter import strip_reason
from sluice_shared.errors import MessageRejectedError, PermanentError, SluiceError
from sluice_shared.limits import SQS_MAX_RECEIVE_MESSAGES
from sluice_shared.sqs import OutgoingMessage

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from sluice_cli.dlq.messages import DeadLetter
    from sluice_cli.dlq.ports import DeadLetterQueue, MessageSender, QueueFinder
    from sluice_cli.dlq.queue import QueueInfo
    from sluice_cli.dlq.rate import TokenBucket

__all__ = [
    "DEFAULT_VISIBILITY_TIMEOUT_SECONDS",
    "NoTargetError",
    "ReplayFailure",
    "ReplayOptions",
    "ReplayReport",
    "SourceQueues",
    "replay",
]

# How long a message received by a replay stays hidden from other readers; the scan extends it while the run
# lasts. After a crash, messages in flight reappear in the DLQ after at most this long.
DEFAULT_VISIBILITY_TIMEOUT_SECONDS: Final = 60


class NoTargetError(PermanentError):
    """No queue to replay a message to is known (or the only candidate is the DLQ itself)."""

    code = "no_target"


class Archive(Protocol):
    """Where replayed bodies are written before they are sent (:class:`sluice_cli.dlq.archive.JsonLinesArchive`)."""

    def write(self, messages: Sequence[DeadLetter]) -> None:
        """Persist one line per message before returning."""
        ...


class Targets(Protocol):
    """Decides which queue each message is replayed to."""

    def target(self, message: DeadLetter) -> QueueInfo:
        """The queue for ``message``; raises a ``SluiceError`` when there is none."""
        ...


class SourceQueues:
    """``--to`` when given; else the message's ``sluice.dlq.source_queue``; else the DLQ's only source queue."""

    def __init__(self, finder: QueueFinder, dlq: QueueInfo, *, to: str | None = None) -> None:
        """Resolve ``to`` at once, so a wrong ``--to`` fails before anything moves.

        Raises:
            QueueNotFoundError: ``to`` does not exist.
            NoTargetError: ``to`` is the DLQ itself.
        """
        self._finder = finder
        self._dlq = dlq
        self._found: dict[str, QueueInfo | SluiceError] = {}
        self._fallback: QueueInfo | SluiceError | None = None
        self._fixed = self._checked(finder.find(to)) if to is not None else None

    def target(self, message: DeadLetter) -> QueueInfo:
        """The target queue for ``message``.

        Raises:
            NoTargetError: no source is known, several are possible, or the source is the DLQ itself.
            QueueNotFoundError: the recorded source queue no longer exists.
        """
        if self._fixed is not None:
            return self._fixed
        source = message.reason.source_queue if message.reason is not None else None
        if source:
            if source not in self._found:
                self._found[source] = self._lookup(source)
            found = self._found[source]
        else:
            if self._fallback is None:
                self._fallback = self._only_source()
            found = self._fallback
        if isinstance(found, SluiceError):
            raise found
        return found

    def _lookup(self, queue: str) -> QueueInfo | SluiceError:
        try:
            return self._checked(self._finder.find(queue))
        except PermanentError as exc:  # remembered per source: every message from it fails the same way
            return exc

    def _only_source(self) -> QueueInfo | SluiceError:
        sources = self._finder.dead_letter_sources(self._dlq)
        if len(sources) == 1:
            return self._lookup(sources[0])
        if not sources:
            return NoTargetError(
                "no source queue known: the message has no sluice.dlq.source_queue attribute and no queue "
                "names this DLQ in its redrive policy; pass --to QUEUE"
            )
        names = ", ".join(sorted(url.rsplit("/", 1)[-1] for url in sources))
        return NoTargetError(
            f"the message has no sluice.dlq.source_queue attribute and {len(sources)} queues use this DLQ "
            f"({names}); pass --to QUEUE"
        )

    def _checked(self, queue: QueueInfo) -> QueueInfo:
        if queue.arn == self._dlq.arn or queue.url == self._dlq.url:
            raise NoTargetError(f"refusing to replay {self._dlq.name} into itself; pass --to QUEUE")
        return queue


@dataclass(frozen=True, slots=True)
class ReplayFailure:
    """A message that was not replayed and stays in the DLQ, and why."""

    message_id: str
    event_id: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayOptions:
    """What to replay and how fast."""

    message_filter: MessageFilter = field(default_factory=MessageFilter)
    limit: int | None = None
    """At most this many messages selected (sent, or failed to send); ``None``: all."""
    dry_run: bool = False
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
    wait_seconds: int = DEFAULT_WAIT_SECONDS


@dataclass(slots=True, kw_only=True)
class ReplayReport:
    """Counts of a replay, filled in as it runs (so an interrupted run can still be summarized).

    Every message received is counted once in exactly one of: ``replayed``, ``not_deleted``, ``would_replay``
    (dry run), ``skipped``, ``held_back``, ``failures``, or ``left`` (selected, but the run stopped first).
    """

    dry_run: bool = False
    scanned: int = 0
    replayed: int = 0
    """Sent to the target and deleted from the DLQ."""
    not_deleted: int = 0
    """Sent to the target, but the DLQ refused the delete: a later replay sends them again (duplicates)."""
    would_replay: int = 0
    skipped: int = 0
    """Not selected by the filter."""
    held_back: int = 0
    """FIFO: behind a skipped or failed message of the same message group."""
    left: int = 0
    failures: list[ReplayFailure] = field(default_factory=list)
    by_target: Counter[str] = field(default_factory=Counter)
    error: SluiceError | None = None
    """Why the run stopped early, if it did."""
    unreleased: int = 0
    """Messages that stay hidden in the DLQ until their visibility timeout ends (a release call failed)."""

    @property
    def failed(self) -> int:
        """How many messages failed to send."""
        return len(self.failures)

    @property
    def selected(self) -> int:
        """Messages the filter selected (the count ``limit`` applies to)."""
        return self.replayed + self.not_deleted + self.would_replay + self.failed + self.left

    @property
    def ok(self) -> bool:
        """True when everything selected was moved (or, in a dry run, could be)."""
        return self.error is None and not self.failures and not self.not_deleted and not self.left


def replay(
    dlq: DeadLetterQueue,
    *,
    targets: Targets,
    sender_for: Callable[[QueueInfo], MessageSender],
    options: ReplayOptions | None = None,
    rate: TokenBucket | None = None,
    archive: Archive | None = None,
    report: ReplayReport | None = None,
    on_progress: Callable[[ReplayReport], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReplayReport:
    """Replay the selected messages of ``dlq``; return (and fill in ``report``) what happened.

    Stops at the first error that is not about one message (the DLQ unreachable, the archive unwritable) and
    records it in ``report.error`` instead of raising it. ``KeyboardInterrupt`` propagates after every held
    message was made visible again.
    """
    options = options or ReplayOptions()
    report = report if report is not None else ReplayReport()
    report.dry_run = options.dry_run
    run = _Run(
        dlq=dlq,
        targets=targets,
        sender_for=sender_for,
        options=options,
        rate=rate,
        archive=archive,
        report=report,
        on_progress=on_progress or (lambda _: None),
        now=now,
    )
    scan = Scan(dlq, visibility_timeout=options.visibility_timeout, wait_seconds=options.wait_seconds)
    try:
        run.execute(scan)
    except SluiceError as exc:
        report.error = exc
    finally:
        report.unreleased = scan.release()
    return report


@dataclass(kw_only=True)
class _Run:
    dlq: DeadLetterQueue
    targets: Targets
    sender_for: Callable[[QueueInfo], MessageSender]
    options: ReplayOptions
    rate: TokenBucket | None
    archive: Archive | None
    report: ReplayReport
    on_progress: Callable[[ReplayReport], None]
    now: Callable[[], datetime]
    blocked_groups: set[str] = field(default_factory=set)
    senders: dict[str, MessageSender] = field(default_factory=dict)

    def execute(self, scan: Scan) -> None:
        while (remaining := self._remaining()) > 0:
            batch = scan.next_batch(remaining)
            if not batch:
                return
            self.report.scanned += len(batch)
            selected = self._select(batch)
            if self.options.dry_run:
                self.report.would_replay += len(selected)
                self.on_progress(self.report)
                continue
            self.report.left += len(selected)
            for piece in self._pieces(selected):
                self._move(piece, scan)
                self.on_progress(self.report)
            self.report.held_back += self.report.left
            self.report.left = 0

    def _remaining(self) -> int:
        """How many messages to receive next: the limit's rest, cut to one request and to the rate's burst."""
        size = SQS_MAX_RECEIVE_MESSAGES if self.rate is None else min(SQS_MAX_RECEIVE_MESSAGES, self.rate.capacity)
        limit = self.options.limit
        return size if limit is None else min(size, limit - self.report.selected)

    def _select(self, batch: Sequence[DeadLetter]) -> list[DeadLetter]:
        """The messages of one receive to replay, in order; counts the skipped and held-back ones."""
        now = self.now()
        selected: list[DeadLetter] = []
        for message in batch:
            group = self._group(message)
            if group in self.blocked_groups:
                self.report.held_back += 1
            elif not self.options.message_filter.matches(message, now=now):
                self.report.skipped += 1
                self._block(message)
            else:
                selected.append(message)
        return selected

    def _pieces(self, selected: list[DeadLetter]) -> Iterator[list[DeadLetter]]:
        """Rounds of at most one message per group (FIFO), cut to the rate limiter's burst size.

        On a standard queue every message is its own group, so a batch is one round.
        """
        queues: OrderedDict[str, list[DeadLetter]] = OrderedDict()
        for message in selected:
            queues.setdefault(self._group(message), []).append(message)
        size = self.rate.capacity if self.rate is not None else SQS_MAX_RECEIVE_MESSAGES
        while queues:
            round_ = [pending.pop(0) for group, pending in queues.items() if group not in self.blocked_groups]
            for start in range(0, len(round_), size):
                yield round_[start : start + size]
            for group in [group for group, pending in queues.items() if not pending or group in self.blocked_groups]:
                del queues[group]

    def _move(self, piece: list[DeadLetter], scan: Scan) -> None:
        if self.rate is not None:
            self.rate.acquire(len(piece))
        routed: dict[str, tuple[QueueInfo, list[DeadLetter]]] = {}
        for message in piece:
            try:
                target = self.targets.target(message)
            except PermanentError as exc:
                self._fail(message, exc.message)
                continue
            routed.setdefault(target.url, (target, []))[1].append(message)
        if self.archive is not None:
            self.archive.write([message for _, messages in routed.values() for message in messages])
        for target, messages in routed.values():
            self._send(target, messages, scan)

    def _send(self, target: QueueInfo, messages: list[DeadLetter], scan: Scan) -> None:
        outgoing: list[OutgoingMessage] = []
        for message in messages:
            try:
                outgoing.append(_outgoing(message, fifo=target.fifo))
            except PermanentError as exc:
                self._fail(message, exc.message)
        sender = self.senders.get(target.url)
        if sender is None:
            sender = self.senders[target.url] = self.sender_for(target)
        by_key = {message.message_id: message for message in messages}
        outcomes = sender.send(outgoing)
        sent = [by_key[outcome.key] for outcome in outcomes if outcome.ok]
        for outcome in outcomes:
            if not outcome.ok:
                self._fail(by_key[outcome.key], str(outcome.error or "not sent"))
        if not sent:
            return
        self.report.left -= len(sent)
        try:
            refused = self.dlq.delete(sent)
        except SluiceError:
            self.report.not_deleted += len(sent)
            raise
        deleted = len(sent) - len(refused)
        kept = {message.message_id for message in refused}
        scan.settle(message for message in sent if message.message_id not in kept)
        self.report.replayed += deleted
        self.report.not_deleted += len(refused)
        self.report.by_target[target.url] += len(sent)

    def _fail(self, message: DeadLetter, reason: str) -> None:
        self.report.left -= 1
        self.report.failures.append(ReplayFailure(message.message_id, message.event_id, reason))
        self._block(message)

    def _block(self, message: DeadLetter) -> None:
        if self.dlq.fifo:
            self.blocked_groups.add(self._group(message))

    def _group(self, message: DeadLetter) -> str:
        if self.dlq.fifo:
            return f"g:{message.group_id or ''}"
        return f"m:{message.message_id}"


def _outgoing(message: DeadLetter, *, fifo: bool) -> OutgoingMessage:
    """The message as it goes back: same body, attributes without the dead-letter reason."""
    attributes = strip_reason(message.attributes)
    if not fifo:
        return OutgoingMessage(key=message.message_id, body=message.body, attributes=attributes)
    if not message.group_id:
        raise MessageRejectedError("a FIFO target needs a MessageGroupId and the dead letter has none")
    return OutgoingMessage(
        key=message.message_id,
        body=message.body,
        attributes=attributes,
        group_id=message.group_id,
        deduplication_id=uuid.uuid4().hex,
    )
