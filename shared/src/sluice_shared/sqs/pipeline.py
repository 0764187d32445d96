"""Sending a stream of messages with a bounded number of ``SendMessageBatch`` calls in flight (``sluice push``).

Each FIFO message group keeps its order; memory stays bounded by the chunks in flight.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Self

from sluice_shared.limits import SQS_MAX_BATCH_ENTRIES
from sluice_shared.sqs.sender import BatchChunk

if TYPE_CHECKING:
    from types import TracebackType

    from sluice_shared.sqs.messages import OutgoingMessage, SendOutcome
    from sluice_shared.sqs.sender import MessageSender

__all__ = ["SendPipeline"]


class SendPipeline:
    """Sends a stream of messages, one ``SendMessageBatch``-sized chunk per call, at most ``max_in_flight`` at once.

    Messages are added one by one and chunked to SQS's limits (10 entries, 1 MiB); a full chunk is handed to
    ``sender.send`` on a worker thread, waiting first while ``max_in_flight`` calls are already running, so
    memory stays bounded by the chunks in flight whatever the length of the stream. With ``max_in_flight=1``
    every call is made on the calling thread, one after the other.

    FIFO (messages with a group id): SQS keeps a group's messages in the order it *receives* them, so two
    chunks holding the same group must never be in flight together, nor may a later one overtake an earlier
    one's retries. Each group is pinned to one of ``max_in_flight`` lanes by a stable hash; each lane fills
    its own chunks and has at most one in flight (retries included), so a group's messages reach SQS in the
    order they were added while other lanes send concurrently. One group alone therefore sends one chunk at
    a time, which is what its order requires. Standard queues have no order to keep: any chunk may go.

    Use as a context manager: leaving it waits for the calls in flight (their outcomes are then lost to the
    caller, so call :meth:`flush` first) and stops the worker threads.
    """

    def __init__(self, sender: MessageSender, *, max_in_flight: int = 1) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._sender = sender
        self._max_in_flight = max_in_flight
        self._open: dict[int | None, BatchChunk] = {}
        self._lane_tail: dict[int, Future[list[SendOutcome]]] = {}
        self._in_flight: set[Future[list[SendOutcome]]] = set()
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def max_in_flight(self) -> int:
        """The most ``SendMessageBatch`` calls ever running at once."""
        return self._max_in_flight

    def add(self, message: OutgoingMessage) -> list[list[SendOutcome]]:
        """Queue ``message`` for sending; return the chunks' outcomes that settled meanwhile (often none).

        Blocks while ``max_in_flight`` calls are running and a chunk is ready to go.
        """
        lane = self._lane(message)
        size = message.size()
        settled: list[list[SendOutcome]] = []
        chunk = self._open.get(lane)
        if chunk is not None and not chunk.fits(size):  # over 1 MiB with this one: the chunk goes as it is
            settled.extend(self._dispatch(lane, self._open.pop(lane).messages))
        chunk = self._open.setdefault(lane, BatchChunk())
        chunk.add(message, size)
        if len(chunk.messages) == SQS_MAX_BATCH_ENTRIES:
            settled.extend(self._dispatch(lane, self._open.pop(lane).messages))
        return settled

    def discard(self) -> list[OutgoingMessage]:
        """Take back the messages of the chunks still filling, unsent (the calls in flight go on)."""
        messages = [message for chunk in self._open.values() for message in chunk.messages]
        self._open.clear()
        return messages

    def flush(self) -> list[list[SendOutcome]]:
        """Send every chunk still filling, wait for every call in flight; return the outcomes not yet returned."""
        settled: list[list[SendOutcome]] = []
        while self._open:
            lane, chunk = self._open.popitem()
            settled.extend(self._dispatch(lane, chunk.messages))
        while self._in_flight:
            settled.extend(self._settle(self._in_flight, wait_for_all=True))
        return settled

    def _lane(self, message: OutgoingMessage) -> int | None:
        if message.group_id is None:
            return None
        return zlib.crc32(message.group_id.encode()) % self._max_in_flight

    def _dispatch(self, lane: int | None, messages: list[OutgoingMessage]) -> list[list[SendOutcome]]:
        if self._max_in_flight == 1:
            return [self._sender.send(messages)]
        settled: list[list[SendOutcome]] = []
        tail = self._lane_tail.get(lane) if lane is not None else None
        if tail is not None and tail in self._in_flight:
            settled.extend(self._settle({tail}, wait_for_all=True))  # the lane's previous chunk goes first
        while len(self._in_flight) >= self._max_in_flight:
            settled.extend(self._settle(self._in_flight, wait_for_all=False))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._max_in_flight, thread_name_prefix="sluice-send")
        future = self._pool.submit(self._sender.send, messages)
        self._in_flight.add(future)
        if lane is not None:
            self._lane_tail[lane] = future
        settled.extend(self._settle({f for f in self._in_flight if f.done()}, wait_for_all=True))
        return settled

    def _settle(self, futures: set[Future[list[SendOutcome]]], *, wait_for_all: bool) -> list[list[SendOutcome]]:
        if not futures:
            return []
        done, _ = wait(futures, return_when=ALL_COMPLETED if wait_for_all else FIRST_COMPLETED)
        self._in_flight.difference_update(done)
        # A sender never raises for a queue error: an exception here is a bug, and result() re-raises it.
        return [future.result() for future in done]
