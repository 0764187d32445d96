"""How ``sluice dlq`` shows results: rich tables for people, JSON for scripts, one summary per operation."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from sluice_cli.dlq.inspection import DlqStats
    from sluice_cli.dlq.messages import DeadLetter
    from sluice_cli.dlq.purge import PurgeReport
    from sluice_cli.dlq.queue import MoveTask
    from sluice_cli.dlq.replay import ReplayReport

__all__ = [
    "format_age",
    "peek_json",
    "peek_table",
    "print_purge_summary",
    "print_replay_summary",
    "stats_json",
    "stats_table",
    "tasks_table",
]

# Failure reasons listed in a replay summary; the rest are counted together.
MAX_REASONS_SHOWN: Final = 5
BODY_EXCERPT_CHARS: Final = 80  # peek shows the start of the body; --json has all of it
_AGE_UNITS: Final = (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1))


def format_age(age: timedelta | None) -> str:
    """``3d 4h``, ``12m 5s``, ``0s``: the two largest units; ``-`` when unknown."""
    if age is None:
        return "-"
    seconds = int(age.total_seconds())
    parts: list[str] = []
    for unit, size in _AGE_UNITS:
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:  # noqa: PLR2004 - two units are precise enough for a person
            break
    return " ".join(parts)


def stats_table(name: str, stats: DlqStats) -> Table:
    """Depth, oldest age and the per-type counts of one DLQ."""
    table = Table(title=f"dead-letter queue {name}", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    depth = stats.depth
    table.add_row("messages", f"{depth.visible} visible, {depth.in_flight} in flight, {depth.delayed} delayed")
    if not depth.total:
        return table
    sample = "" if stats.complete else f" (sample of {stats.scanned})"
    table.add_row("oldest message" + sample, format_age(stats.oldest_age))
    groups = (
        ("error type", stats.by_error_type),
        ("event type", stats.by_event_type),
        ("constraint", stats.by_constraint),
    )
    for title, counts in groups:
        if not counts:
            continue
        table.add_section()
        table.add_row(f"[bold]by {title}[/bold]" + sample, "")
        for key, count in counts.most_common():
            table.add_row(f"  {key}", str(count))
    return table


def stats_json(name: str, stats: DlqStats) -> str:
    """The same facts as :func:`stats_table`, as a JSON document."""
    depth = stats.depth
    document = {
        "queue": name,
        "visible": depth.visible,
        "in_flight": depth.in_flight,
        "delayed": depth.delayed,
        "scanned": stats.scanned,
        "complete": stats.complete,
        "oldest_age_seconds": None if stats.oldest_age is None else int(stats.oldest_age.total_seconds()),
        "by_error_type": dict(stats.by_error_type.most_common()),
        "by_event_type": dict(stats.by_event_type.most_common()),
        "by_constraint": dict(stats.by_constraint.most_common()),
    }
    return json.dumps(document, indent=2)


def peek_table(messages: Sequence[DeadLetter], *, now: datetime) -> Table:
    """One row per message: ids, types, why it failed, receive count, age and a body excerpt."""
    table = Table(show_lines=True)
    table.add_column("event id", overflow="fold")
    table.add_column("event type", overflow="fold")
    table.add_column("error", overflow="fold")
    table.add_column("field", overflow="fold")
    table.add_column("recv", justify="right", no_wrap=True)
    table.add_column("age", no_wrap=True)
    table.add_column("body", overflow="fold", max_width=60)
    for message in messages:
        reason = message.reason
        table.add_row(
            message.event_id or "-",
            message.event_type or "-",
            message.error_type + (f": {reason.error_message}" if reason and reason.error_message else ""),
            (reason.error_field if reason else None) or "-",
            str(message.receive_count),
            format_age(message.age(now)),
            message.excerpt(BODY_EXCERPT_CHARS),
        )
    return table


def peek_json(messages: Sequence[DeadLetter], *, now: datetime) -> str:
    """The peeked messages as a JSON array (full bodies, reasons, counts, ages)."""
    return json.dumps([_message_document(message, now) for message in messages], indent=2, ensure_ascii=False)


def _message_document(message: DeadLetter, now: datetime) -> dict[str, Any]:
    reason = message.reason
    age = message.age(now)
    return {
        "message_id": message.message_id,
        "event_id": message.event_id,
        "event_type": message.event_type,
        "error_type": message.error_type,
        "error_message": reason.error_message if reason else None,
        "error_field": reason.error_field if reason else None,
        "source_queue": reason.source_queue if reason else None,
        "failed_at": reason.failed_at.isoformat() if reason else None,
        "receive_count": message.receive_count,
        "sent_at": message.sent_at.astimezone(UTC).isoformat() if message.sent_at else None,
        "age_seconds": None if age is None else int(age.total_seconds()),
        "group_id": message.group_id,
        "excerpt": message.excerpt(),
        "body": message.body,
    }


def tasks_table(tasks: Sequence[MoveTask]) -> Table:
    """Recent move tasks, newest first."""
    table = Table()
    for column in ("status", "moved", "to move", "rate", "destination", "started", "failure"):
        table.add_column(column, overflow="fold")
    for task in tasks:
        table.add_row(
            task.status,
            str(task.moved),
            "-" if task.to_move is None else str(task.to_move),
            "-" if task.rate is None else f"{task.rate}/s",
            (task.destination_arn or "original source queues").rsplit(":", 1)[-1],
            "-" if task.started_at is None else task.started_at.isoformat(timespec="seconds"),
            task.failure_reason or "",
        )
    return table


def print_replay_summary(console: Console, report: ReplayReport, *, interrupted: bool = False) -> None:
    """One summary line, then the failures grouped by reason."""
    head = f"dry run: {report.would_replay} would be replayed" if report.dry_run else f"replayed {report.replayed}"
    parts = [head, f"skipped by filter {report.skipped}", f"failed {report.failed}"]
    if report.held_back:
        parts.append(f"held back behind their FIFO group {report.held_back}")
    if report.not_deleted:
        parts.append(f"sent but still in the DLQ {report.not_deleted} (a later replay sends them again)")
    if report.left:
        parts.append(f"not attempted {report.left}")
    prefix = "interrupted: " if interrupted else ""
    console.print(prefix + ", ".join(parts) + f" (of {report.scanned} read)", markup=False)
    for target, count in sorted(report.by_target.items()):
        console.print(f"  -> {target}: {count}", markup=False)
    reasons = Counter(failure.reason for failure in report.failures)
    for reason, count in reasons.most_common(MAX_REASONS_SHOWN):
        console.print(f"  failed x{count}: {reason}", markup=False)
    if len(reasons) > MAX_REASONS_SHOWN:
        rest = sum(count for _, count in reasons.most_common()[MAX_REASONS_SHOWN:])
        console.print(f"  failed x{rest}: other reasons", markup=False)
    if report.failures:
        console.print("  failed messages stay in the DLQ", markup=False)
    if report.unreleased:
        console.print(f"  {report.unreleased} messages stay hidden until their visibility timeout ends", markup=False)


def print_purge_summary(console: Console, report: PurgeReport, *, older_than: str) -> None:
    """One line: deleted, kept, refused."""
    line = f"deleted {report.deleted} older than {older_than}, kept {report.kept} (of {report.scanned} read)"
    if report.not_deleted:
        line += f", {report.not_deleted} could not be deleted"
    console.print(line, markup=False)
    if report.unreleased:
        console.print(f"  {report.unreleased} messages stay hidden until their visibility timeout ends", markup=False)
