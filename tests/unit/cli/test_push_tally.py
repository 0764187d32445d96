from __future__ import annotations

from typing import TYPE_CHECKING

from sluice_cli import push_tally
from sluice_cli.push_tally import PushTally
from sluice_shared.errors import InvalidMessageError, QueueUnavailableError
from sluice_shared.publisher import EventResult, EventStatus

if TYPE_CHECKING:
    import pytest


def test_summary_groups_reasons_with_examples() -> None:
    naive = InvalidMessageError.single("occurred_at", "Input should have timezone info")
    down = QueueUnavailableError("queue endpoint unreachable")
    tally = PushTally(noun="line")
    for result in (
        EventResult(1, "a", EventStatus.QUEUED, message_id="m-0"),
        EventResult(2, "b", EventStatus.REJECTED, error=naive),
        EventResult(3, "c", EventStatus.REJECTED, error=naive),
        EventResult(4, "d", EventStatus.FAILED, error=down),
    ):
        tally.record(result)

    assert tally.summary(destination="q") == [
        "sent 1, rejected 2, failed 1 of 4 events to q",
        "rejected:",
        "  2 x occurred_at: Input should have timezone info (line 2, line 3)",
        "failed:",
        "  1 x queue_unavailable: queue endpoint unreachable (line 4)",
    ]


def test_summary_keeps_a_bounded_number_of_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(push_tally, "REASONS_KEPT", 3)
    tally = PushTally()
    for index in range(10):
        tally.record(EventResult(index, None, EventStatus.REJECTED, error=InvalidMessageError.single("f", f"r{index}")))

    lines = tally.reason_lines(EventStatus.REJECTED)

    assert lines[1:] == [
        "  7 x other reasons (too many distinct ones to list) (event 3, event 4, event 5, ...)",
        "  1 x f: r0 (event 0)",
        "  1 x f: r1 (event 1)",
        "  1 x f: r2 (event 2)",
    ]
