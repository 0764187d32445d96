"""A token bucket: at most ``rate`` operations a second on average, in bursts of at most ``capacity``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Starts full; :meth:`acquire` sleeps until enough tokens have been refilled at ``rate`` per second."""

    def __init__(
        self,
        rate: float,
        *,
        capacity: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._updated = clock()

    def acquire(self, tokens: int = 1) -> None:
        """Take ``tokens`` (at most ``capacity``), waiting as long as the rate requires."""
        if not 1 <= tokens <= self.capacity:
            raise ValueError(f"can take 1..{self.capacity} tokens at once, not {tokens}")
        self._refill()
        if self._tokens < tokens:
            self._sleep((tokens - self._tokens) / self.rate)
            self._refill()
        # Floating-point refill can fall a hair short after the exact sleep; never go below zero for long.
        self._tokens = max(self._tokens - tokens, 0.0)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
