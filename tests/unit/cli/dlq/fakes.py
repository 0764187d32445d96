"""In-memory fakes for the ``sluice dlq`` ports: a queue with SQS's visibility rules, a sender, a finder."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.support.factories import event_body

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

from sluice_cli.dlq.messages import DeadLetter
from sluice_cli.dlq.queue import QueueInfo
from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.errors import InvalidMessageError, QueueNotFoundError, QueueUnavailableError, SluiceError
from sluice_shared.sqs import OutgoingMessage, QueueDepth, SendOutcome

ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def queue_info(name: str) -> QueueInfo:
    return QueueInfo(
        url=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{name}",
        arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}",
        fifo=name.endswith(".fifo"),
    )


def dead_letter(
    *,
    body: str | None = None,
    source: str | None = "events",
    error: SluiceError | None = None,
    sent_at: datetime = NOW,
    group_id: str | None = None,
    attributes: dict[str, Any] | None = None,
    reason: bool = True,
    **event: Any,
) -> DeadLetter:
    """A message as the consumer dead-letters it (reason attached), or as SQS redrive does (``reason=False``)."""
    text = body if body is not None else event_body(**event)
    original = dict(attributes or {"trace": {"DataType": "String", "StringValue": "t-1"}})
    if reason:
        why = DeadLetterReason.from_error(
            error or InvalidMessageError.single("payload.sku", "bad"),
            source_queue=queue_info(source).arn if source else None,
            now=sent_at,
        )
        attached = why.attach(original)
        assert attached is not None
        original = dict(attached)
    return DeadLetter.from_sqs(
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": "",
            "Body": text,
            "MessageAttributes": original,
            "Attributes": {
                "SentTimestamp": str(int(sent_at.timestamp() * 1000)),
                "ApproximateReceiveCount": "0",
                **({"MessageGroupId": group_id} if group_id else {}),
            },
        }
    )


@dataclass
class _Stored:
    message: DeadLetter
    hidden_until: float = 0.0
    handle: str = ""
    receives: int = 0


@dataclass
class FakeQueue:
    """A DLQ with SQS's rules: receiving hides, handles go stale on re-receive, FIFO groups block while in flight."""

    info: QueueInfo
    messages: list[DeadLetter] = field(default_factory=list)
    journal: list[tuple[str, str]] = field(default_factory=list)
    fail_receive: SluiceError | None = None
    refuse_delete: set[str] = field(default_factory=set)
    clock: Callable[[], float] = field(default=lambda: 0.0)
    receive_calls: int = 0

    def __post_init__(self) -> None:
        self._stored = [_Stored(message) for message in self.messages]
        self._handles = itertools.count(1)

    @property
    def url(self) -> str:
        return self.info.url

    @property
    def fifo(self) -> bool:
        return self.info.fifo

    def remaining_ids(self) -> list[str]:
        return [stored.message.message_id for stored in self._stored]

    def visible_ids(self) -> list[str]:
        now = self.clock()
        return [stored.message.message_id for stored in self._stored if stored.hidden_until <= now]

    def depth(self) -> QueueDepth:
        visible = len(self.visible_ids())
        return QueueDepth(visible=visible, in_flight=len(self._stored) - visible, delayed=0)

    def receive(self, *, max_messages: int, visibility_timeout: int, wait_seconds: int) -> list[DeadLetter]:  # noqa: ARG002
        self.receive_calls += 1
        if self.fail_receive is not None:
            raise self.fail_receive
        now = self.clock()
        blocked = {s.message.group_id for s in self._stored if self.fifo and s.hidden_until > now}
        out: list[DeadLetter] = []
        for stored in self._stored:
            if len(out) == max_messages:
                break
            if stored.hidden_until > now or (self.fifo and stored.message.group_id in blocked):
                continue
            stored.receives += 1
            stored.handle = f"h{next(self._handles)}"
            stored.hidden_until = now + visibility_timeout
            out.append(replace(stored.message, receipt_handle=stored.handle, receive_count=stored.receives))
        self.journal.extend(("receive", message.message_id) for message in out)
        return out

    def change_visibility(self, messages: Sequence[DeadLetter], seconds: int) -> list[DeadLetter]:
        refused = []
        for message in messages:
            stored = self._find(message)
            # SQS answers MessageNotInflight for a message whose visibility timeout already ran out.
            if stored is None or stored.hidden_until <= self.clock():
                refused.append(message)
            else:
                stored.hidden_until = self.clock() + seconds
                self.journal.append(("visibility", message.message_id))
        return refused

    def delete(self, messages: Sequence[DeadLetter]) -> list[DeadLetter]:
        refused = []
        for message in messages:
            stored = self._find(message)
            if stored is None or message.message_id in self.refuse_delete:
                refused.append(message)
            else:
                self._stored.remove(stored)
                self.journal.append(("delete", message.message_id))
        return refused

    def purge(self) -> None:
        self._stored.clear()

    def _find(self, message: DeadLetter) -> _Stored | None:
        for stored in self._stored:
            if stored.message.message_id == message.message_id and stored.handle == message.receipt_handle:
                return stored
        return None


@dataclass
class FakeSender:
    """Records what it sends in the shared journal; fails the keys it is told to fail."""

    queue: QueueInfo
    journal: list[tuple[str, str]]
    fail: set[str] = field(default_factory=set)
    sent: list[OutgoingMessage] = field(default_factory=list)

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        on_sent: Callable[[Sequence[SendOutcome]], None] | None = None,  # noqa: ARG002
    ) -> list[SendOutcome]:
        outcomes = []
        for message in messages:
            if message.key in self.fail:
                outcomes.append(SendOutcome(message.key, error=QueueUnavailableError("throttled")))
                continue
            self.sent.append(message)
            self.journal.append(("send", message.key))
            outcomes.append(SendOutcome(message.key, message_id=f"new-{message.key}"))
        return outcomes


@dataclass
class FakeFinder:
    """Knows a fixed set of queues and the DLQ's source queues."""

    queues: dict[str, QueueInfo]
    sources: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)

    def find(self, queue: str) -> QueueInfo:
        self.lookups.append(queue)
        for info in self.queues.values():
            if queue in {info.url, info.arn, info.name}:
                return info
        raise QueueNotFoundError(f"queue {queue!r} does not exist")

    def dead_letter_sources(self, dlq: QueueInfo) -> list[str]:  # noqa: ARG002
        return [self.queues[name].url for name in self.sources]
