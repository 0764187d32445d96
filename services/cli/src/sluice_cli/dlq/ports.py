"""The small interfaces the ``sluice dlq`` logic works against; SQS adapters and test fakes implement them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sluice_cli.dlq.messages import DeadLetter
    from sluice_cli.dlq.queue import QueueInfo
    from sluice_shared.sqs import OutgoingMessage, QueueDepth, SendOutcome

__all__ = ["DeadLetterQueue", "MessageSender", "QueueFinder"]


class DeadLetterQueue(Protocol):
    """One dead-letter queue (implemented by :class:`sluice_cli.dlq.queue.SqsDeadLetterQueue`)."""

    @property
    def url(self) -> str:
        """The queue URL."""
        ...

    @property
    def fifo(self) -> bool:
        """True for a FIFO queue."""
        ...

    def depth(self) -> QueueDepth:
        """Approximate counts of visible, in-flight and delayed messages."""
        ...

    def receive(self, *, max_messages: int, visibility_timeout: int, wait_seconds: int) -> list[DeadLetter]:
        """Receive up to ``max_messages`` and hide them for ``visibility_timeout`` seconds."""
        ...

    def change_visibility(self, messages: Sequence[DeadLetter], seconds: int) -> list[DeadLetter]:
        """Hide ``messages`` for ``seconds`` from now; return those the queue refused."""
        ...

    def delete(self, messages: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Delete ``messages``; return those the queue did not delete."""
        ...

    def purge(self) -> None:
        """Delete every message."""
        ...


class MessageSender(Protocol):
    """Sends to one queue and reports per message (implemented by :class:`sluice_shared.sqs.BatchSender`)."""

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        on_sent: Callable[[Sequence[SendOutcome]], None] | None = None,
    ) -> list[SendOutcome]:
        """Send every message; return one outcome per message, in input order."""
        ...


class QueueFinder(Protocol):
    """Finds queues (implemented by :class:`sluice_cli.dlq.queue.SqsQueues`)."""

    def find(self, queue: str) -> QueueInfo:
        """Find a queue by URL, ARN or name; raise ``QueueNotFoundError`` when there is none."""
        ...

    def dead_letter_sources(self, dlq: QueueInfo) -> list[str]:
        """URLs of the queues whose redrive policy targets ``dlq``."""
        ...
