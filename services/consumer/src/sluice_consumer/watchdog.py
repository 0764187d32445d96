"""A client-side statement timeout: cancel a connection's running statement when its time budget runs out.

Server-side ``statement_timeout`` would need ``SET``, which pins RDS Proxy sessions; a cancel request does not.
One daemon thread per process watches every armed statement. It replaces a ``threading.Timer`` per statement:
starting a thread cost 0.5 to 1.1 ms, a fifth of the whole handler at Lambda's default batch of 10 (measured
on the 2-core development machine, December 2026); arming the watchdog costs a lock and a dict entry.
"""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterator

    import psycopg

__all__ = ["CANCEL_TIMEOUT_S", "statement_watchdog"]

# How long to wait for psycopg to deliver a cancel request (psycopg's own default is 30 s).
CANCEL_TIMEOUT_S: Final = 2.0


class _Watchdog:
    """Armed statements by token, each with the monotonic time at which its connection is cancelled."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._armed: dict[int, tuple[float, psycopg.Connection[Any]]] = {}
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None
        # When the thread wakes next on its own (infinity while nothing is armed): arming a later statement need
        # not wake it, which would cost the handler a thread switch per invocation.
        self._wakes_at = float("inf")

    def arm(self, conn: psycopg.Connection[Any], budget_s: float) -> int:
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="sluice-statement-watchdog", daemon=True)
                self._thread.start()
            token = next(self._tokens)
            at = time.monotonic() + max(budget_s, 0.0)
            self._armed[token] = (at, conn)
            if at < self._wakes_at:
                self._condition.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._condition:
            # The thread may still wake at this statement's time: it then finds nothing to cancel.
            self._armed.pop(token, None)

    def _watch(self) -> None:
        with self._condition:
            while True:
                if not self._armed:
                    self._wakes_at = float("inf")
                    self._condition.wait()
                    continue
                token, (at, conn) = min(self._armed.items(), key=lambda item: item[1][0])
                delay = at - time.monotonic()
                if delay > 0:
                    self._wakes_at = at
                    self._condition.wait(delay)
                    continue
                del self._armed[token]
                # Cancelling can take a network round trip: never while holding the lock arm() needs.
                self._condition.release()
                try:
                    conn.cancel_safe(timeout=CANCEL_TIMEOUT_S)
                except Exception:  # noqa: BLE001, S110 - a failed cancel leaves the statement to finish or fail
                    pass
                finally:
                    self._condition.acquire()


_WATCHDOG: Final = _Watchdog()


@contextmanager
def statement_watchdog(conn: psycopg.Connection[Any], budget_s: float | None) -> Iterator[None]:
    """Cancel ``conn``'s running statement when ``budget_s`` runs out; ``None`` means no limit.

    The cancelled statement raises ``QueryCanceled`` in the caller.
    """
    if budget_s is None:
        yield
        return
    token = _WATCHDOG.arm(conn, budget_s)
    try:
        yield
    finally:
        _WATCHDOG.disarm(token)
