"""Helpers every benchmark uses: the machine's load, interleaved repetitions, paired ratios, min/median/max.

Benchmarks print figures; they never assert timings (the machines are shared and noisy). The load average
printed before and after a run says how noisy the machine was while it ran. Strategies compared with each other
run interleaved, one repetition of each in turn (the order rotating from one repetition to the next), so they
share the machine's noise; a ratio is taken per repetition (paired) and summarised as ``median [min..max]``.
"""

from __future__ import annotations

import os
import statistics
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

__all__ = ["interleaved", "load_reported", "machine_load", "paired", "spread"]


def machine_load() -> str:
    """The 1, 5 and 15 minute load averages and the CPU count, as one line."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


@contextmanager
def load_reported() -> Iterator[None]:
    """Print the machine's load when a benchmark starts and when it ends (also when it fails)."""
    print(f"start: {machine_load()}", flush=True)
    try:
        yield
    finally:
        print(f"end: {machine_load()}", flush=True)


def spread(values: Sequence[float], *, digits: int = 2) -> str:
    """``median [min..max]`` of ``values``."""
    if not values:
        return "n/a"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}..{max(values):.{digits}f}]"


def interleaved(
    cases: Mapping[str, Callable[[], float]],
    *,
    repetitions: int,
    warm_up: int = 1,
    limits: Mapping[str, int] | None = None,
) -> dict[str, list[float]]:
    """Run each case once per repetition, in rotating order; each case returns the seconds it measured.

    A case prepares its input before it starts its clock, so only the measured work counts. ``limits`` caps the
    repetitions of a slow case (it joins the first ones only). Warm-up rounds (connections, caches, code paths)
    are not recorded.
    """
    names = list(cases)
    for _ in range(warm_up):
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            if limits is not None and repetition >= limits.get(name, repetitions):
                continue
            samples[name].append(cases[name]())
    return samples


def paired(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-repetition ratios ``numerators[i] / denominators[i]`` (the shorter sequence sets the length)."""
    return [top / bottom for top, bottom in zip(numerators, denominators, strict=False)]
