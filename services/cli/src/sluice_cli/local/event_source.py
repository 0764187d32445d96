"""A local SQS event source that polls, batches, invokes and deletes the way Lambda's SQS poller does.

Each of ``max_concurrency`` pollers long-polls the queue (ReceiveMessage, up to 10 messages a call), gathers
records until the batch size is reached, the batching window closes or the next record would push the
invocation payload over 6 MB, invokes the handler with the exact Lambda SQS event and a context whose
remaining-time clock runs against the function timeout, and then deletes exactly the messages the response
reports as succeeded (:func:`~sluice_cli.local.sqs_event.settle_response`). Failed messages are left alone:
they reappear after the visibility timeout and the queue's redrive policy moves them to the DLQ, as in AWS.

Stopping finishes the batches being handled, makes received-but-not-invoked messages visible again at once,
and never deletes a message whose batch did not succeed.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Protocol

from sluice_cli.local.context import LocalLambdaContext
from sluice_cli.local.sqs_event import BatchVerdict, lambda_event, lambda_record, settle_response
from sluice_shared.errors import SluiceError, TransientError
from sluice_shared.limits import LAMBDA_SYNC_PAYLOAD_BYTES, SQS_MAX_RECEIVE_MESSAGES, SQS_MAX_WAIT_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from sluice_shared.topology import QueueTopology

__all__ = [
    "BatchReport",
    "EventSource",
    "EventSourceStats",
    "Handler",
    "MessageQueue",
    "PollerConfig",
]

logger = logging.getLogger(__name__)

DELETE_ATTEMPTS: Final = 3
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


@dataclass(frozen=True, slots=True)
class BatchReport:
    """One invocation: its request id, the messages it carried, what was deleted and why the rest was not."""

    request_id: str
    message_ids: tuple[str, ...]
    verdict: BatchVerdict
    not_deleted: tuple[str, ...] = ()
    duration_seconds: float = 0.0
    handler_seconds: float = 0.0
    """Time spent inside the handler alone (the rest of ``duration_seconds`` is deleting)."""


@dataclass(slots=True)
class EventSourceStats:
    """Counters since the event source was created."""

    batches: int = 0
    records: int = 0
    deleted: int = 0
    failed_records: int = 0
    batch_errors: Counter[str] = field(default_factory=Counter)
    delete_errors: int = 0
    released: int = 0
    in_flight_batches: int = 0
    handler_seconds: float = 0.0
    """Time spent inside the handler, summed over batches (concurrent batches each count their own)."""
    first_handler_records: int = 0
    first_handler_seconds: float = 0.0
    """The first invocation's records and handler time: it pays the cold start (imports, the first connection)."""

    @property
    def handler_rate(self) -> float:
        """Records per second of handler time once warm (the first invocation left out when there are others).

        The consumer's own speed, whatever the queue around it.
        """
        records, seconds = self.records, self.handler_seconds
        if self.batches > 1:
            records, seconds = records - self.first_handler_records, seconds - self.first_handler_seconds
        return records / seconds if seconds > 0 else 0.0

    def snapshot(self) -> EventSourceStats:
        """A copy that later batches do not change."""
        return replace(self, batch_errors=Counter(self.batch_errors))


@dataclass(slots=True)
class _Received:
    message: MessageTypeDef
    record: dict[str, Any]
    size: int


@dataclass(slots=True)
class _Batch:
    items: list[_Received] = field(default_factory=list)
    size: int = 0
    window_end: float | None = None

    def fits(self, item: _Received, max_bytes: int) -> bool:
        """True when ``item`` keeps the invocation payload within ``max_bytes`` (a first record always fits)."""
        return not self.items or self.size + item.size <= max_bytes


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
        self.handler = handler
        self.config = config or PollerConfig()
        self.failure: BaseException | None = None
        self._on_batch = on_batch
        self._clock = clock
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._stats = EventSourceStats()
        self._threads: list[threading.Thread] = []
        # Records received but left out of a batch (payload limit), per poller; the calling thread's for poll_once.
        self._direct_carry: list[_Received] = []

    @property
    def stats(self) -> EventSourceStats:
        """A snapshot of the counters."""
        with self._lock:
            return self._stats.snapshot()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping.is_set()

    @property
    def alive(self) -> bool:
        """True while every poller thread started by :meth:`start` is running."""
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def start(self) -> None:
        """Start ``max_concurrency`` poller threads (at most that many batches are ever handled at once)."""
        if self._threads:
            raise RuntimeError("event source already started")
        for index in range(self.config.max_concurrency):
            thread = threading.Thread(target=self._run, args=(f"poller-{index}",), name=f"sluice-poller-{index}")
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
        self._release_carry(self._direct_carry)
        return not any(thread.is_alive() for thread in self._threads)

    def poll_once(self) -> BatchReport | None:
        """Gather one batch and handle it on the calling thread; None when nothing arrived within one long poll."""
        return self._poll(self._direct_carry, "direct")

    def _run(self, name: str) -> None:
        carry: list[_Received] = []
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    self._poll(carry, name)
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
            self._release_carry(carry)

    def _poll(self, carry: list[_Received], name: str) -> BatchReport | None:
        batch = self._gather(carry)
        if not batch:
            return None
        if self._stopping.is_set():
            self._release(batch)
            return None
        return self._invoke(batch, name)

    def _release_carry(self, carry: list[_Received]) -> None:
        if carry:
            batch = list(carry)
            carry.clear()
            self._release(batch)

    def _release(self, batch: Sequence[_Received]) -> None:
        try:
            self.queue.release([item.message for item in batch])
        except SluiceError as exc:
            # They become visible on their own when the visibility timeout expires: nothing is lost.
            logger.warning("could not release %d received messages (%s)", len(batch), exc)
            return
        with self._lock:
            self._stats.released += len(batch)

    def _gather(self, carry: list[_Received]) -> list[_Received]:
        config = self.config
        batch = _Batch()
        while carry and len(batch.items) < config.batch_size:
            if not batch.fits(carry[0], config.max_payload_bytes):
                return batch.items
            self._add(batch, carry.pop(0))
        while len(batch.items) < config.batch_size and not self._stopping.is_set():
            wait = self._wait_seconds(batch)
            if wait is None:
                break
            wanted = min(SQS_MAX_RECEIVE_MESSAGES, config.batch_size - len(batch.items))
            try:
                received = self.queue.receive(max_messages=wanted, wait_seconds=wait)
            except SluiceError:
                carry[:0] = batch.items  # keep what was gathered: the next attempt starts with it
                raise
            if not received and batch.window_end is None:
                return batch.items
            for message in received:
                item = self._prepare(message)
                if carry or not batch.fits(item, config.max_payload_bytes):
                    carry.append(item)  # over the payload limit: it opens the next batch
                else:
                    self._add(batch, item)
            if carry or (batch.items and config.batching_window_seconds <= 0):
                break
        return batch.items

    def _add(self, batch: _Batch, item: _Received) -> None:
        if batch.window_end is None:  # the window opens with the first record, as Lambda's does
            batch.window_end = self._clock() + self.config.batching_window_seconds
        batch.items.append(item)
        batch.size += item.size

    def _wait_seconds(self, batch: _Batch) -> int | None:
        """WaitTimeSeconds for the next receive: a full long poll for the first record, then what is left of the
        window (None when it has closed)."""
        if batch.window_end is None:
            return self.config.poll_wait_seconds
        remaining = batch.window_end - self._clock()
        if remaining <= 0:
            return None
        # WaitTimeSeconds is whole seconds: round up so the window is used, overshooting by under 1 s.
        return min(self.config.poll_wait_seconds, math.ceil(remaining))

    def _prepare(self, message: MessageTypeDef) -> _Received:
        record = lambda_record(message, queue_arn=self.queue.arn, region=self.queue.region)
        return _Received(message=message, record=record, size=len(json.dumps(record)))

    def _invoke(self, batch: list[_Received], name: str) -> BatchReport:
        message_ids = [item.message["MessageId"] for item in batch]
        context = LocalLambdaContext(
            function_name=self.config.function_name,
            timeout_seconds=self.config.function_timeout_seconds,
            region=self.queue.region,
            clock=self._clock,
        )
        started = self._clock()
        with self._lock:
            self._stats.in_flight_batches += 1
        try:
            verdict, handled = self._call(batch, context, message_ids, name)
            by_id = {item.message["MessageId"]: item.message for item in batch}
            not_deleted = self._delete([by_id[mid] for mid in verdict.succeeded], name)
        finally:
            with self._lock:
                self._stats.in_flight_batches -= 1
        report = BatchReport(
            request_id=context.aws_request_id,
            message_ids=tuple(message_ids),
            verdict=verdict,
            not_deleted=tuple(not_deleted),
            duration_seconds=self._clock() - started,
            handler_seconds=handled,
        )
        self._record(report)
        return report

    def _call(
        self, batch: list[_Received], context: LocalLambdaContext, message_ids: list[str], name: str
    ) -> tuple[BatchVerdict, float]:
        """The batch's verdict, and the seconds spent inside the handler."""
        event = lambda_event([item.record for item in batch])
        started = time.perf_counter()
        try:
            response = self.handler(event, context)
        except Exception as exc:  # Lambda: a function error fails the whole batch
            handled = time.perf_counter() - started
            logger.exception("%s: handler raised; the whole batch of %d will be redelivered", name, len(batch))
            return BatchVerdict.whole_batch_failed(message_ids, f"function error: {type(exc).__name__}: {exc}"), handled
        handled = time.perf_counter() - started
        if context.timed_out:
            timeout = self.config.function_timeout_seconds
            return BatchVerdict.whole_batch_failed(message_ids, f"function timed out after {timeout:g} s"), handled
        verdict = settle_response(response, message_ids)
        if verdict.batch_error is not None:
            logger.error("%s: %s; the whole batch of %d will be redelivered", name, verdict.batch_error, len(batch))
        return verdict, handled

    def _delete(self, messages: list[MessageTypeDef], name: str) -> list[str]:
        if not messages:
            return []
        error: SluiceError | None = None
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                not_deleted = self.queue.delete(messages)
            except SluiceError as exc:
                error = exc
                if attempt < DELETE_ATTEMPTS:
                    time.sleep(RETRY_BASE_SECONDS * 2 ** (attempt - 1))
                continue
            if not_deleted:
                logger.warning("%s: SQS did not delete %d messages: %s", name, len(not_deleted), not_deleted)
            return not_deleted
        # Not deleted means redelivered after the visibility timeout; writes are idempotent on event_id.
        logger.error("%s: could not delete %d messages (%s)", name, len(messages), error)
        return [m["MessageId"] for m in messages]

    def _record(self, report: BatchReport) -> None:
        with self._lock:
            if not self._stats.batches:
                self._stats.first_handler_records = len(report.message_ids)
                self._stats.first_handler_seconds = report.handler_seconds
            self._stats.batches += 1
            self._stats.records += len(report.message_ids)
            self._stats.deleted += len(report.verdict.succeeded) - len(report.not_deleted)
            self._stats.failed_records += len(report.verdict.failed)
            self._stats.delete_errors += len(report.not_deleted)
            self._stats.handler_seconds += report.handler_seconds
            if report.verdict.batch_error is not None:
                self._stats.batch_errors[_error_kind(report.verdict.batch_error)] += 1
        if self._on_batch is not None:
            self._on_batch(report)


def _error_kind(reason: str) -> str:
    """The part of a whole-batch failure reason before its details, for counting by kind."""
    return reason.split(":", 1)[0]
