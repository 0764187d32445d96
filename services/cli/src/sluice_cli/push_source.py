"""Where ``sluice push`` reads its events: a file or stdin, or the sample generator, numbered as they come."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

import typer

from sluice_cli.generate import generate_events
from sluice_cli.reader import EventReader, Unreadable
from sluice_shared.errors import MalformedMessageError
from sluice_shared.ids import lacks_event_id, with_event_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sluice_cli.push_tally import PushTally

__all__ = ["PushSource", "feed", "push_source"]


@dataclass(slots=True)
class PushSource:
    """Numbered events to push, what one is called in examples, and how far through the input the run is."""

    events: Iterable[tuple[int, Any]]
    noun: str
    total: int | None
    """Known size: bytes of a file, or the count of generated events; None for a pipe."""
    position: Callable[[], int]
    """Progress towards ``total``: bytes read, or events handed over when ``total`` counts events."""
    total_is_bytes: bool = True


def feed(events: Iterable[tuple[int, Any]], tally: PushTally, *, assign_ids: bool) -> Iterator[tuple[int, Any]]:
    """The events the publisher sees: unreadable lines counted as rejected, missing ids assigned."""
    try:
        for number, event in events:
            if isinstance(event, Unreadable):
                tally.reject(number, event.error)
            elif assign_ids and lacks_event_id(event):
                tally.assigned += 1
                yield number, with_event_id(event)
            else:
                yield number, event
    except MalformedMessageError as exc:  # a JSON array broke off: what came before it is still sent
        tally.stopped = exc


def push_source(
    reader: EventReader | None, generate: int | None, ratios: tuple[float, float], seed: int | None
) -> PushSource:
    """The events of an opened file or stdin (``reader``), else ``generate`` sample events (invalid, duplicate ratios).

    Raises:
        typer.BadParameter: the generator refuses its ratios.
    """
    if reader is not None:
        return PushSource(reader, reader.noun, reader.size, lambda: reader.bytes_read)
    assert generate is not None  # noqa: S101 - the command checks that exactly one source is given
    invalid, duplicate = ratios
    generated = generate_events(generate, invalid_ratio=invalid, duplicate_ratio=duplicate, seed=seed)
    try:
        first = next(generated, None)  # the generator checks its ratios on its first step
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    handed_over = [0]

    def numbered() -> Iterator[tuple[int, Any]]:
        for index, event in enumerate(chain([] if first is None else [first], generated)):
            handed_over[0] = index + 1
            yield index, event

    return PushSource(numbered(), "event", generate, lambda: handed_over[0], total_is_bytes=False)
