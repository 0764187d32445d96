"""Helpers every benchmark uses: the machine's load (printed at start and end) and min/median/max summaries.

Benchmarks print figures; they never assert timings (the machines are shared and noisy). The load average
printed before and after a run says how noisy the machine was while it ran.
"""

from __future__ import annotations

import os
import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["machine_load", "spread"]


def machine_load() -> str:
    """The 1, 5 and 15 minute load averages and the CPU count, as one line."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def spread(values: Sequence[float], *, digits: int = 2) -> str:
    """``median [min..max]`` of ``values``."""
    if not values:
        return "n/a"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}..{max(values):.{digits}f}]"
