"""The plan's model of one event and one batch: sizes on the wire and in the table, and time per batch.

The time one consumer environment spends on a batch of ``b`` events at ``m`` MB of memory::

    cpu(m)     = max(1, 1769 / m)                       (Lambda gives one full vCPU at 1,769 MB)
    t(b, m)    = (fixed + b x event) x cpu(m) + 3 round trips + b x body / bandwidth

``event`` is the measured handler time per event (parse, validate, write) scaled to the payload, ``fixed`` the
measured per-batch cost of the write path (:class:`ConsumerSpeed`). No I/O here.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sluice_cli.plan import assumptions as a
from sluice_cli.plan.model import EventSizes

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sluice_cli.plan.model import Workload, WritePathResult

__all__ = [
    "ConsumerSpeed",
    "Sizing",
    "effective_batch",
    "event_sizes",
    "fmt",
    "interpolate",
    "wait_s",
    "work_factor",
]


def event_sizes(payload_bytes: int) -> EventSizes:
    """One event's sizes: SQS body, Lambda event record and stored row (see the assumptions)."""
    body = payload_bytes + a.ENVELOPE_BYTES
    # rounded before the ceiling: binary floating point makes 800 x 1.1 880.0000000000001
    stored = a.ROW_OVERHEAD_BYTES + math.ceil(round(payload_bytes * a.JSONB_FACTOR, 6))
    return EventSizes(
        payload=payload_bytes,
        body=body,
        record=body + a.SQS_RECORD_OVERHEAD_BYTES,
        stored=stored,
        toasted=stored > a.TOAST_THRESHOLD_BYTES,
    )


def work_factor(payload_bytes: int, measured_payload_bytes: int) -> float:
    """Per-event work at ``payload_bytes`` relative to the measured payload: (fixed + payload), TOAST counted."""
    factor = (a.WORK_FIXED_BYTES + payload_bytes) / (a.WORK_FIXED_BYTES + measured_payload_bytes)
    if event_sizes(payload_bytes).toasted and not event_sizes(measured_payload_bytes).toasted:
        factor *= a.TOAST_WORK_FACTOR
    return factor


def interpolate(figures: Sequence[tuple[int, float]], batch: float) -> float:
    """A rate at ``batch``, linear in log(batch) between measured batch sizes; the nearest figure outside them."""
    sizes = [size for size, _ in figures]
    if batch <= sizes[0]:
        return figures[0][1]
    if batch >= sizes[-1]:
        return figures[-1][1]
    upper = bisect.bisect_left(sizes, batch)
    (low_size, low_rate), (high_size, high_rate) = figures[upper - 1], figures[upper]
    share = (math.log(batch) - math.log(low_size)) / (math.log(high_size) - math.log(low_size))
    return low_rate + share * (high_rate - low_rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerSpeed:
    """How long one consumer environment takes per batch, from the measured write path."""

    event_s: float  # per event at a full vCPU, at the workload's payload
    fixed_s: float  # per batch at a full vCPU
    body_bytes: int

    @classmethod
    def measured(cls, result: WritePathResult, *, payload_bytes: int, batch: int) -> ConsumerSpeed:
        """Scale the measured handler and write-path figures to ``payload_bytes`` and ``batch``."""
        handler = sorted((figure.batch, figure.messages_per_s) for figure in result.handler)
        writes = result.sluice_rows_per_s()
        smallest, smallest_rate = writes[0]
        per_row = 1 / interpolate(writes, max(batch, a.PREFERRED_BATCH_SIZE))
        return cls(
            event_s=work_factor(payload_bytes, result.payload_bytes) / interpolate(handler, batch),
            fixed_s=max(0.0, smallest / smallest_rate - smallest * per_row),
            body_bytes=event_sizes(payload_bytes).body,
        )

    def batch_seconds(self, batch: float, memory_mib: int) -> float:
        """t(b, m): one batch of ``batch`` events at ``memory_mib``."""
        cpu = max(1.0, a.FULL_VCPU_MIB / memory_mib)
        network = a.ROUND_TRIPS_PER_BATCH * a.PROXY_ROUND_TRIP_S + batch * self.body_bytes / a.NETWORK_BYTES_PER_S
        return (self.fixed_s + batch * self.event_s) * cpu + network


def effective_batch(rate: float, *, batch_size: int, window_s: int) -> float:
    """Events per invocation at ``rate``: what a poller gathers while its window is open, up to the batch size."""
    gather = window_s if window_s > 0 else a.NO_WINDOW_GATHER_S
    return min(float(batch_size), max(1.0, rate * gather / a.STANDARD_POLLERS))


def wait_s(rate: float, *, batch_size: int, window_s: int) -> float:
    """How long the first event of a batch waits for it to close: the window, or less when the batch fills."""
    if window_s == 0:
        return a.NO_WINDOW_GATHER_S
    return min(float(window_s), batch_size * a.STANDARD_POLLERS / rate)


def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"  # noqa: PLR2004 - digits worth printing


@dataclass(slots=True)
class Sizing:
    """The plan being built: its inputs, and the warnings the sizing steps add."""

    workload: Workload
    sizes: EventSizes
    warnings: list[str]
