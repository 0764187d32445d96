"""One poller of the local event source: gather a batch the way Lambda's SQS poller does, invoke, delete.

A batch closes when it reaches the batch size, when the batching window (opened by its first record) closes, or
when the next record would push the invocation payload over the limit; that record opens the next batch. The
handler gets the exact Lambda SQS event and a context whose remaining-time clock runs against the function
timeout; then exactly the messages the response reports as succeeded are deleted.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sluice_cli.context import LocalContext
from sluice_local.batch_stats import BatchReport
from sluice_local.sqs_event import BatchVerdict, lambda_event, lambda_record, settle_response
from sluice_shared.errors import SluiceError
from sluice_shared.limits import SQS_MAX_RECEIVE_MESSAGES

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from sluice_local.batch_stats import StatsBook
    from sluice_local.event_source import Handler, MessageQueue, PollerConfig

__all__ = ["Poller"]

logger = logging.getLogger(__name__)

DELETE_ATTEMPTS: Final = 3
RETRY_BASE_SECONDS: Final = 0.2


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


class Poller:
    """Gathers batches from ``queue``, invokes ``handler`` and deletes what succeeded; one thread drives it.

    Records received but left out of a batch (over the payload limit) are carried to the next :meth:`poll`;
    :meth:`release` makes them visible again when polling ends.
    """

    def __init__(
        self,
        name: str,
        *,
        queue: MessageQueue,
        handler: Handler,
        config: PollerConfig,
        book: StatsBook,
        stopping: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.queue = queue
        self.handler = handler
        self.config = config
        self._book = book
        self._stopping = stopping
        self._clock = clock
        self._carry: list[_Received] = []

    def poll(self) -> BatchReport | None:
        """Gather one batch and handle it; None when nothing arrived within one long poll (or when stopping)."""
        batch = self._gather(self._carry)
        if not batch:
            return None
        if self._stopping.is_set():
            self._release(batch)
            return None
        return self._invoke(batch, self.name)

    def release(self) -> None:
        """Make the records carried to the next batch visible again now."""
        if self._carry:
            batch = list(self._carry)
            self._carry.clear()
            self._release(batch)

    def _release(self, batch: Sequence[_Received]) -> None:
        try:
            self.queue.release([item.message for item in batch])
        except SluiceError as exc:
            # They become visible on their own when the visibility timeout expires: nothing is lost.
            logger.warning("could not release %d received messages (%s)", len(batch), exc)
            return
        self._book.released(len(batch))

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
        context = LocalContext(
            function_name=self.config.function_name,
            timeout_s=self.config.function_timeout_seconds,
            region=self.queue.region,
            clock=self._clock,
        )
        started = self._clock()
        with self._book.in_flight():
            verdict, handled = self._call(batch, context, message_ids, name)
            by_id = {item.message["MessageId"]: item.message for item in batch}
            not_deleted = self._delete([by_id[mid] for mid in verdict.succeeded], name)
        report = BatchReport(
            request_id=context.aws_request_id,
            message_ids=tuple(message_ids),
            verdict=verdict,
            not_deleted=tuple(not_deleted),
            duration_seconds=self._clock() - started,
            handler_seconds=handled,
        )
        self._book.record(report)
        return report

    def _call(
        self, batch: list[_Received], context: LocalContext, message_ids: list[str], name: str
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
