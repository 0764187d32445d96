"""One pass over a dead-letter queue that sees each message once and never loses or consumes one.

SQS has no "browse": the only way to read a message is to receive it, which hides it for a visibility
timeout. A scan keeps every message it received hidden until the scan ends (extending the timeout while
the scan runs, so it cannot see the same message twice and reach the end of the queue), then makes all of
them visible again at once with ``ChangeMessageVisibility(0)``. Callers that deleted a message (replayed or
purged) tell the scan with :meth:`Scan.settle`. If the process dies, held messages reappear by themselves
when their visibility timeout runs out.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, Self

from sluice_shared.errors import SluiceError, TransientError
from sluice_shared.limits import SQS_MAX_RECEIVE_MESSAGES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType

    from sluice_cli.dlq.messages import DeadLetter
    from sluice_cli.dlq.ports import DeadLetterQueue

__all__ = ["DEFAULT_WAIT_SECONDS", "Scan"]

# Long polling (> 0) queries every SQS server, so an empty answer means nothing is visible; short polling
# samples a subset and may answer empty while messages remain.
DEFAULT_WAIT_SECONDS: Final = 1
# Receives in a row that return only messages already seen before the scan gives up on finding new ones
# (happens only when holding failed, for example a visibility timeout shorter than one request).
MAX_STALE_RECEIVES: Final = 3
RELEASE_ATTEMPTS: Final = 3
RELEASE_BACKOFF_SECONDS: Final = 0.2


class Scan:
    """Receives a queue's messages batch by batch, each once, holding them hidden until :meth:`release`."""

    def __init__(
        self,
        queue: DeadLetterQueue,
        *,
        visibility_timeout: int,
        wait_seconds: int = DEFAULT_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue = queue
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._seen: set[str] = set()
        # message id -> (latest receive of it, monotonic time its visibility timeout runs out)
        self._held: dict[str, tuple[DeadLetter, float]] = {}
        self.exhausted = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    @property
    def seen(self) -> int:
        """How many distinct messages the scan has returned."""
        return len(self._seen)

    @property
    def held(self) -> int:
        """How many messages the scan keeps hidden right now."""
        return len(self._held)

    def next_batch(self, max_messages: int) -> list[DeadLetter]:
        """Up to ``max_messages`` (1..10) messages not returned before; empty when the scan is over."""
        if self.exhausted:
            return []
        self._keep_hidden()
        for _ in range(MAX_STALE_RECEIVES):
            received = self.queue.receive(
                max_messages=max_messages, visibility_timeout=self.visibility_timeout, wait_seconds=self.wait_seconds
            )
            if not received:
                break
            deadline = self._clock() + self.visibility_timeout
            fresh: list[DeadLetter] = []
            for message in received:
                # A message seen again (its hold lapsed) is held with its newest receipt handle, not returned.
                self._held[message.message_id] = (message, deadline)
                if message.message_id not in self._seen:
                    self._seen.add(message.message_id)
                    fresh.append(message)
            if fresh:
                return fresh
        self.exhausted = True
        return []

    def messages(self, limit: int) -> Iterator[DeadLetter]:
        """Every message, once, up to ``limit`` of them."""
        while self.seen < limit:
            batch = self.next_batch(min(SQS_MAX_RECEIVE_MESSAGES, limit - self.seen))
            if not batch:
                return
            yield from batch

    def settle(self, messages: Iterable[DeadLetter]) -> None:
        """Stop holding ``messages``: they were deleted."""
        for message in messages:
            self._held.pop(message.message_id, None)

    def release(self) -> int:
        """Make every held message visible again at once; return how many stay hidden until their timeout."""
        held = [message for message, _ in self._held.values()]
        self._held.clear()
        if not held:
            return 0
        for attempt in range(1, RELEASE_ATTEMPTS + 1):
            try:
                return len(self.queue.change_visibility(held, 0))
            except TransientError:
                # A Ctrl-C can land mid-request and leave a broken connection behind: try a fresh one.
                if attempt < RELEASE_ATTEMPTS:
                    self._sleep(RELEASE_BACKOFF_SECONDS * attempt)
            except SluiceError:
                break
        # They reappear by themselves when the visibility timeout runs out: nothing is lost.
        return len(held)

    def _keep_hidden(self) -> None:
        """Extend the hold of messages whose visibility timeout is more than half over."""
        now = self._clock()
        due = [message for message, deadline in self._held.values() if deadline - now < self.visibility_timeout / 2]
        if not due:
            return
        refused = {message.message_id for message in self.queue.change_visibility(due, self.visibility_timeout)}
        deadline = now + self.visibility_timeout
        for message in due:
            if message.message_id in refused:
                # The handle is stale (the message reappeared); a later receive will hold it again.
                del self._held[message.message_id]
            else:
                self._held[message.message_id] = (message, deadline)
