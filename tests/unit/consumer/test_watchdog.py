"""The statement watchdog cancels each armed connection when its budget runs out, and no disarmed one."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from sluice_consumer.watchdog import statement_watchdog

# Generous: the assertions are about which connection is cancelled, never about how fast.
WAIT_S = 10.0


class RecordingConnection:
    """Stands in for a psycopg connection: the watchdog only ever calls ``cancel_safe``."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def cancel_safe(self, *, timeout: float) -> None:
        assert timeout > 0  # a cancel that cannot hang the watchdog
        self.cancelled.set()


def _watch(conn: RecordingConnection, budget_s: float) -> Any:
    return statement_watchdog(cast("Any", conn), budget_s)


def test_a_shorter_budget_armed_after_a_longer_one_is_cancelled_first() -> None:
    long, short = RecordingConnection(), RecordingConnection()
    with _watch(long, 3600.0), _watch(short, 0.05):
        assert short.cancelled.wait(WAIT_S)
    assert not long.cancelled.is_set()


def test_a_statement_armed_after_a_disarmed_one_is_still_cancelled() -> None:
    finished, slow = RecordingConnection(), RecordingConnection()
    with _watch(finished, 0.2):
        pass  # disarmed before its budget ran out: the thread still wakes at that time, finding nothing
    with _watch(slow, 0.4):
        assert slow.cancelled.wait(WAIT_S)
    assert not finished.cancelled.is_set()


def test_a_statement_armed_while_the_watchdog_is_idle_wakes_it() -> None:
    finished, later = RecordingConnection(), RecordingConnection()
    with _watch(finished, 0.3):
        time.sleep(0.05)  # the thread now waits for this statement's time
    time.sleep(0.5)  # past it: the thread has woken, found nothing armed and waits idle
    with _watch(later, 0.1):
        assert later.cancelled.wait(WAIT_S)
    assert not finished.cancelled.is_set()


def test_a_disarmed_statement_is_never_cancelled() -> None:
    conn = RecordingConnection()
    with _watch(conn, 0.05):
        pass
    assert not conn.cancelled.wait(0.3)
