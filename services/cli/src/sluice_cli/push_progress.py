"""The progress bar of ``sluice push``: on stderr, only when it is a terminal, redrawn a few times a second."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from sluice_cli.console import err

if TYPE_CHECKING:
    from sluice_cli.push_source import PushSource
    from sluice_shared.publisher import EventResult

__all__ = ["PROGRESS_INTERVAL_SECONDS", "ProgressBar"]

# The progress bar is redrawn a few times a second at most: updating it for every event would cost more.
PROGRESS_INTERVAL_SECONDS: Final = 0.1


class _RateColumn(ProgressColumn):
    """Events settled and events per second."""

    def render(self, task: Task) -> Text:
        events = int(task.fields.get("events", 0))
        elapsed = task.finished_time or task.elapsed or 0.0
        rate = f"{events / elapsed:,.0f} events/s" if elapsed > 0 and events else "- events/s"
        return Text(f"{events:,} events  {rate}")


class ProgressBar:
    """A progress bar on stderr (only when it is a terminal), redrawn at most every 0.1 s."""

    def __init__(self, source: PushSource, *, label: str) -> None:
        self._source = source
        columns: list[str | ProgressColumn] = [TextColumn(label), BarColumn()]
        if source.total is not None and source.total_is_bytes:
            columns.append(DownloadColumn())
        columns += [_RateColumn(), TimeElapsedColumn()]
        if source.total is not None:  # an ETA needs a known size: a file's, or the count of generated events
            columns += [TextColumn("ETA"), TimeRemainingColumn()]
        self._progress = Progress(*columns, console=err, disable=not err.is_terminal)
        self._task = self._progress.add_task(label, total=source.total, events=0)
        self._events = 0
        self._next_draw = 0.0

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._draw()
        self._progress.stop()

    def advance(self, _result: EventResult) -> None:
        self._events += 1
        now = time.monotonic()
        if now >= self._next_draw:
            self._next_draw = now + PROGRESS_INTERVAL_SECONDS
            self._draw()

    def _draw(self) -> None:
        self._progress.update(self._task, completed=self._source.position(), events=self._events)
