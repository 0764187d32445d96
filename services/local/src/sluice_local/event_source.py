"""A local SQS event source that polls, batches, invokes and deletes the way Lambda's SQS poller does.

Each of ``max_concurrency`` pollers (:class:`~sluice_local.poller.Poller`, a thread each) long-polls the queue
(ReceiveMessage, up to 10 messages a call), gathers records until the batch size is reached, the batching window
closes or the next record would push the invocation payload over 6 MB, invokes the handler with the exact Lambda
SQS event and a context whose remaining-time clock runs against the function timeout, and then deletes exactly
the messages the response reports as succeeded (:func:`~sluice_local.sqs_event.settle_response`). Failed messages
are left alone: they reappear after the visibility timeout and the queue's redrive policy moves them to the DLQ,
as in AWS.

Stopping finishes the batches being handled, makes received-but-not-invoked messages visible again at once,
and never deletes a message whose batch did not succeed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Protocol

from sluice_local.batch_stats import BatchReport, EventSourceStats, StatsBook
from sluice_local.poller import Poller
from sluice_shared.errors import SluiceError, TransientError
from sluice_shared.limits import LAMBDA_SYNC_PAYLOAD_BYTES, SQS_MAX_WAIT_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from sluice_shared.topology import QueueTopology

__all__ = [
    "EventSource",
    "Handler",
    "MessageQueue",
    "PollerConfig",
]

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS: Final = 0.2
RETRY_MAX_SECONDS: Final = 5.0

Handler = Callable[[dict[str, Any], Any], Any]
"""A Lambda handler: ``handler(event, context) -> response``."""


class MessageQueue(Protocol):
    """The queue operations the event source needs (implemented by :class:`~sluice_shared.sqs.SqsQueue`)."""

    @property
    def arn(self) -> str:
        """The queue's ARN."""
        ...

    @property
    def region(self) -> str:
        """The queue's region."""
        ...

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[MessageTypeDef]:
        """Receive up to ``max_messages``, waiting up to ``wait_seconds`` for the first one."""
        ...

    def delete(self, messages: Sequence[MessageTypeDef]) -> list[str]:
        """Delete ``messages``; return the ids of the ones not deleted."""
        ...

    def release(self, messages: Sequence[MessageTypeDef]) -> None:
        """Make ``messages`` visible again now."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PollerConfig:
    """How the event source polls and invokes: the event source mapping's settings plus the function timeout."""

    batch_size: int = 10
    batching_window_seconds: float = 0.0
    max_concurrency: int = 2
    poll_wait_seconds: int = SQS_MAX_WAIT_SECONDS
    function_timeout_seconds: float = 60.0
    function_name: str = "sluice-consumer"
    max_payload_bytes: int = LAMBDA_SYNC_PAYLOAD_BYTES

    @classmethod
    def from_topology(cls, topology: QueueTopology, **overrides: Any) -> PollerConfig:
        """The mapping the CDK stack configures for ``topology`` (batch size, window, function timeout).

        FIFO event sources take no batching window (Lambda rejects one), as in the stack.
        """
        config = cls(
            batch_size=topology.batch_size,
            batching_window_seconds=0 if topology.fifo else topology.batching_window_seconds,
            function_timeout_seconds=topology.consumer_timeout_seconds,
        )
        return replace(config, **overrides)


class EventSource:
    """Polls one queue and invokes one handler with Lambda's SQS semantics, from ``max_concurrency`` threads."""

    def __init__(
        self,
        queue: MessageQueue,
        handler: Handler,
        config: PollerConfig | None = None,
        *,
        on_batch: Callable[[BatchReport], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self._handler = handler
        self.config = config or PollerConfig()
        self.failure: BaseException | None = None
        self._clock = clock
        self._stopping = threading.Event()
        self._book = StatsBook(on_batch)
        self._threads: list[threading.Thread] = []
        self._pollers: dict[str, Poller] = {}  # by name: the threads' and any driven from a caller's thread
        self._threaded: set[str] = set()  # the names of the pollers the threads run

    @property
    def handler(self) -> Handler:
        """The function the pollers invoke."""
        return self._handler

    @handler.setter
    def handler(self, handler: Handler) -> None:
        # A new deployment of the function: the next batch of every poller goes to it.
        self._handler = handler
        for poller in self._pollers.values():
            poller.handler = handler

    @property
    def stats(self) -> EventSourceStats:
        """A snapshot of the counters."""
        return self._book.snapshot()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping.is_set()

    @property
    def alive(self) -> bool:
        """True while every poller thread started by :meth:`start` is running."""
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def poller(self, name: str) -> Poller:
        """The poller called ``name``, made on first use: :meth:`start` runs one per thread; a caller may drive
        one from its own thread, a batch per :meth:`Poller.poll` (:meth:`stop` then releases what it carries)."""
        if name not in self._pollers:
            self._pollers[name] = Poller(
                name,
                queue=self.queue,
                handler=self.handler,
                config=self.config,
                book=self._book,
                stopping=self._stopping,
                clock=self._clock,
            )
        return self._pollers[name]

    def start(self) -> None:
        """Start ``max_concurrency`` poller threads (at most that many batches are ever handled at once)."""
        if self._threads:
            raise RuntimeError("event source already started")
        for index in range(self.config.max_concurrency):
            poller = self.poller(f"poller-{index}")
            self._threaded.add(poller.name)
            thread = threading.Thread(target=self._run, args=(poller,), name=f"sluice-poller-{index}")
            thread.daemon = True  # never keeps the interpreter alive; stop() is what ends them cleanly
            self._threads.append(thread)
            thread.start()

    def stop(self, *, timeout: float | None = None) -> bool:
        """Stop polling, let the batches being handled finish, release what was received but not invoked.

        Waits at most ``timeout`` seconds (default: one long poll plus one function timeout, plus 5 s).
        Returns True when every poller has finished.
        """
        self._stopping.set()
        if timeout is None:
            timeout = self.config.poll_wait_seconds + self.config.function_timeout_seconds + 5
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for name, poller in self._pollers.items():
            if name not in self._threaded:  # a thread releases its own poller's records when it ends
                poller.release()
        return not any(thread.is_alive() for thread in self._threads)

    def _run(self, poller: Poller) -> None:
        name = poller.name
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    poller.poll()
                    failures = 0
                except SluiceError as exc:
                    failures += 1
                    delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (failures - 1))
                    level = logging.WARNING if isinstance(exc, TransientError) else logging.ERROR
                    logger.log(level, "%s: polling failed (%s), retrying in %.1f s", name, exc, delay)
                    self._stopping.wait(delay)
        except BaseException as exc:
            # A bug, not a queue error: record it so the pipeline reports it instead of silently stalling.
            logger.exception("%s: stopped by an unexpected error", name)
            self.failure = exc
            raise
        finally:
            poller.release()
