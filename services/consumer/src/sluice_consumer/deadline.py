"""The time an invocation has left, read from the Lambda context, with a safety margin kept free.

Lambda kills an invocation at its timeout and SQS then retries the *whole* batch, including messages that
were already stored or dead-lettered. Stopping early and reporting unfinished messages as batch item
failures keeps the rest of the batch's work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["NO_DEADLINE", "Deadline", "LambdaContextLike"]

_MS_PER_S: Final = 1000.0


class LambdaContextLike(Protocol):
    """The one part of the Lambda context object the consumer reads."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops the invocation."""
        ...


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute point on a monotonic clock, and the margin to keep free before it."""

    at: float  # monotonic seconds
    margin_s: float = 0.0
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def from_context(
        cls, context: LambdaContextLike | None, *, margin_ms: int, clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        """The invocation's deadline; none when there is no context (direct calls, scripts)."""
        if context is None:
            return cls(float("inf"), margin_ms / _MS_PER_S, clock)
        return cls(clock() + context.get_remaining_time_in_millis() / _MS_PER_S, margin_ms / _MS_PER_S, clock)

    def budget_s(self) -> float:
        """Seconds of work that may still start: time left minus the margin (negative when past it)."""
        return self.at - self.clock() - self.margin_s

    def expired(self) -> bool:
        """True when less than the margin is left: start no more work."""
        return self.budget_s() <= 0


NO_DEADLINE: Final = Deadline(float("inf"))
