from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from rich.console import Console

from sluice_cli.dlq.inspection import DlqStats
from sluice_cli.dlq.render import format_age, peek_table, print_replay_summary, stats_table
from sluice_cli.dlq.replay import ReplayFailure, ReplayReport
from sluice_shared.sqs import QueueDepth
from tests.unit.cli.dlq.fakes import NOW, dead_letter


def _text(renderable: object, width: int = 200) -> str:
    console = Console(width=width, record=True, file=None, force_terminal=False, color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (None, "-"),
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(minutes=12, seconds=5), "12m 5s"),
        (timedelta(days=3, hours=4, minutes=5), "3d 4h"),
        (timedelta(hours=2), "2h"),
    ],
)
def test_ages_read_in_two_units_at_most(age: timedelta | None, text: str) -> None:
    assert format_age(age) == text


def test_peek_row_shows_ids_reason_receives_age_and_body() -> None:
    message = dead_letter(event_type="order.created", event_id="5a0c3a26-0d4e-4c56-9bd0-5c2f7b5d8e11")

    rows = [line for line in _text(peek_table([message], now=NOW + timedelta(hours=2))).splitlines() if "5a0c" in line]

    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("\u2502 ").split("\u2502")]
    assert cells[:6] == [
        "5a0c3a26-0d4e-4c56-9bd0-5c2f7b5d8e11",
        "order.created",
        "invalid_message: payload.sku: bad",
        "payload.sku",
        "0",
        "2h",
    ]
    assert cells[6].startswith('{"event_id": "5a0c3a26')


def test_peek_table_fits_a_narrow_terminal_with_every_column_readable() -> None:
    text = _text(peek_table([dead_letter(event_type="order.created")], now=NOW), width=80)

    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].endswith("\u2513")  # the right border is there: nothing was cut off
    for column in ("event id", "event", "error", "field", "recv", "age", "body"):
        assert column in lines[1]


def test_stats_table_marks_a_sample() -> None:
    stats = DlqStats(
        depth=QueueDepth(visible=50, in_flight=0, delayed=0),
        scanned=10,
        complete=False,
        oldest_age=timedelta(hours=5),
        by_error_type=Counter({"invalid_message": 10}),
        by_event_type=Counter({"order.created": 10}),
    )

    text = _text(stats_table("events-dlq", stats))

    assert "50 visible, 0 in flight, 0 delayed" in text
    assert "oldest message (sample of 10)" in text
    assert "by error type (sample of 10)" in text


def test_replay_summary_groups_failures_by_reason() -> None:
    report = ReplayReport(scanned=9, replayed=5, skipped=1)
    report.failures.extend(ReplayFailure(f"m{i}", None, "throttled") for i in range(3))
    report.by_target["https://q/events"] = 5
    console = Console(width=200, record=True)

    with console.capture() as capture:
        print_replay_summary(console, report)

    assert capture.get().splitlines() == [
        "replayed 5, skipped by filter 1, failed 3 (of 9 read)",
        "  -> https://q/events: 5",
        "  failed x3: throttled",
        "  failed messages stay in the DLQ",
    ]
