"""The sizing arithmetic of ``sluice plan``: pure functions from a workload, a measured write path and a price sheet
to consumer settings, a database and the warnings; :mod:`sluice_cli.plan.costs` prices the result.

The time one consumer environment spends on a batch of ``b`` events at ``m`` MB of memory::

    cpu(m)     = max(1, 1769 / m)                       (Lambda gives one full vCPU at 1,769 MB)
    t(b, m)    = (fixed + b x event) x cpu(m) + 3 round trips + b x body / bandwidth

``event`` is the measured handler time per event (parse, validate, write) scaled to the payload, ``fixed`` the
measured per-batch cost of the write path. Everything else follows from SQS's and Lambda's limits and the
constants in :mod:`sluice_cli.plan.assumptions`. No I/O here.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sluice_cli.plan import assumptions as a
from sluice_cli.plan.choices import Network
from sluice_cli.plan.costs import estimate_costs
from sluice_cli.plan.model import ConsumerPlan, DatabasePlan, EventSizes, Plan, Setting, Throughput
from sluice_shared.capacity import (
    ESM_MAX_CONCURRENCY_RANGE,
    INSTANCE_CLASSES,
    ConnectionBudget,
    InstanceClass,
    default_max_connections,
    instance_class,
)
from sluice_shared.errors import ConfigurationError
from sluice_shared.plan_context import PlanContext

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sluice_cli.plan.model import PriceSheet, Workload, WritePathResult

__all__ = [
    "ConsumerSpeed",
    "event_sizes",
    "interpolate",
    "make_plan",
    "pinned_max_connections",
    "work_factor",
]

_MIB = 1024**2
_GIB = 1024**3
_MEGABIT = 1_000_000 / 8  # bytes/s in one Mbit/s


def event_sizes(payload_bytes: int) -> EventSizes:
    """One event's sizes: SQS body, Lambda event record and stored row (see the assumptions)."""
    body = payload_bytes + a.ENVELOPE_BYTES
    # rounded before the ceiling: 800 x 1.1 is 880.0000000000001 in binary floating point
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


def pinned_max_connections(instance: InstanceClass) -> int:
    """The ``max_connections`` a plan pins: RDS's formula on the memory less what RDS keeps, down to tens."""
    return max(10, default_max_connections(instance.name, reserved_mib=a.OS_RESERVED_MIB) // 10 * 10)


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


def _effective_batch(rate: float, *, batch_size: int, window_s: int) -> float:
    """Events per invocation at ``rate``: what a poller gathers while its window is open, up to the batch size."""
    gather = window_s if window_s > 0 else a.NO_WINDOW_GATHER_S
    return min(float(batch_size), max(1.0, rate * gather / a.STANDARD_POLLERS))


def _wait_s(rate: float, *, batch_size: int, window_s: int) -> float:
    """How long the first event of a batch waits for it to close: the window, or less when the batch fills."""
    if window_s == 0:
        return a.NO_WINDOW_GATHER_S
    return min(float(window_s), batch_size * a.STANDARD_POLLERS / rate)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"  # noqa: PLR2004 - digits worth printing


@dataclass(slots=True)
class _Sizing:
    """The plan being built: inputs, the choices so far and the warnings."""

    workload: Workload
    sizes: EventSizes
    warnings: list[str]


def _batch_size(sizing: _Sizing) -> tuple[int, str]:
    workload, sizes = sizing.workload, sizing.sizes
    by_payload = a.INVOKE_PAYLOAD_LIMIT_BYTES // sizes.record
    limit = a.SQS_MAX_BATCH_SIZE_FIFO if workload.fifo else min(a.SQS_MAX_BATCH_SIZE_STANDARD, by_payload)
    if workload.batch_size is not None:
        if not 1 <= workload.batch_size <= limit:
            why = "FIFO" if workload.fifo else f"events of {sizes.record:,} bytes in a 6 MB invocation"
            raise ConfigurationError(f"cannot plan: --batch-size must be 1..{limit:,} ({why})")
        return workload.batch_size, "pinned by --batch-size"
    if workload.fifo:
        return a.SQS_MAX_BATCH_SIZE_FIFO, "FIFO event sources take at most 10 messages per batch (AWS)"
    if by_payload < a.PREFERRED_BATCH_SIZE:
        return by_payload, f"as many {sizes.record:,}-byte records as fit Lambda's 6 MB invocation payload"
    return a.PREFERRED_BATCH_SIZE, (
        "the write path reaches plain-COPY speed at 1,000 rows (make bench); larger batches gain little "
        "and retry more on a transient failure"
    )


def _window(sizing: _Sizing, batch_size: int, speed: ConsumerSpeed) -> tuple[int, int, str]:
    """(batching window, batch size, reason): the batch size drops to 10 when no window fits the latency."""
    workload = sizing.workload
    if workload.fifo:
        if workload.batching_window_s:
            raise ConfigurationError("cannot plan: FIFO event sources take no batching window (AWS)")
        return 0, batch_size, "FIFO event sources take no batching window (AWS)"
    if workload.batching_window_s is not None:
        window = workload.batching_window_s
        if not 0 <= window <= a.SQS_MAX_BATCHING_WINDOW_SECONDS:
            raise ConfigurationError("cannot plan: --batching-window must be 0..300 s (AWS)")
        if window == 0 and batch_size > a.BATCH_SIZE_WITHOUT_WINDOW:
            raise ConfigurationError("cannot plan: batches above 10 need a batching window of at least 1 s (AWS)")
        if window >= workload.max_latency_s:
            sizing.warnings.append(
                f"The latency target ({workload.max_latency_s:g} s) is below the batching window ({window} s): at "
                "low rates an event waits the whole window before its batch is even invoked."
            )
        return window, batch_size, "pinned by --batching-window"
    fill_s = batch_size * a.STANDARD_POLLERS / workload.rate_per_s
    budget_s = workload.max_latency_s - a.DELIVERY_ALLOWANCE_S - speed.batch_seconds(batch_size, a.FULL_VCPU_MIB)
    if budget_s < 1:
        if workload.batch_size is not None and batch_size > a.BATCH_SIZE_WITHOUT_WINDOW:
            sizing.warnings.append(
                f"The latency target ({workload.max_latency_s:g} s) leaves no room for the 1 s batching window "
                f"that batches of {batch_size} need."
            )
            return 1, batch_size, "the smallest window that allows batches above 10 (AWS)"
        sizing.warnings.append(
            f"The latency target ({workload.max_latency_s:g} s) is below the smallest batching window (1 s) that "
            "allows batches above 10: batches of at most 10, so many more invocations and SQS requests."
        )
        batch = min(batch_size, a.BATCH_SIZE_WITHOUT_WINDOW)
        return 0, batch, f"no window fits the latency target, so batches of at most {batch} (AWS: 10 without one)"
    window = min(max(math.ceil(fill_s), 1), math.floor(budget_s), a.SQS_MAX_BATCHING_WINDOW_SECONDS)
    return (
        window,
        batch_size,
        (
            f"each of {a.STANDARD_POLLERS} pollers fills a batch of {batch_size:,} in {_fmt(fill_s)} s at "
            f"{_fmt(workload.rate_per_s)} events/s; the latency target leaves {_fmt(budget_s)} s to wait "
            f"(AWS: at most {a.SQS_MAX_BATCHING_WINDOW_SECONDS} s)"
        ),
    )


def _latency_s(workload: Workload, speed: ConsumerSpeed, *, batch_size: int, window_s: int, memory_mib: int) -> float:
    """Worst enqueue -> committed row at the steady and the peak rate, nothing failing."""
    worst = 0.0
    for rate in (workload.rate_per_s, workload.peak_rate_per_s):
        batch = _effective_batch(rate, batch_size=batch_size, window_s=window_s)
        wait = _wait_s(rate, batch_size=batch_size, window_s=window_s)
        worst = max(worst, a.DELIVERY_ALLOWANCE_S + wait + speed.batch_seconds(batch, memory_mib))
    return worst


def _memory(sizing: _Sizing, speed: ConsumerSpeed, *, batch_size: int, window_s: int) -> tuple[int, str]:
    workload, sizes = sizing.workload, sizing.sizes
    if workload.memory_mib is not None:
        return workload.memory_mib, "pinned by --memory"
    need_mib = a.LAMBDA_RUNTIME_MIB + batch_size * sizes.record * a.PYTHON_BYTES_FACTOR / _MIB
    fitting = [m for m in a.MEMORY_CANDIDATES_MIB if m >= need_mib] or [a.MEMORY_CANDIDATES_MIB[-1]]
    sizes_mib = "/".join(map(str, a.MEMORY_CANDIDATES_MIB))
    for memory in fitting:
        latency = _latency_s(workload, speed, batch_size=batch_size, window_s=window_s, memory_mib=memory)
        if latency <= workload.max_latency_s:
            seconds = speed.batch_seconds(batch_size, memory)
            return memory, (
                f"the smallest of {sizes_mib} MB that holds a batch (~{need_mib:,.0f} MB) and keeps the latency "
                f"target: a full batch takes {_fmt(seconds)} s at {_fmt(min(1.0, memory / a.FULL_VCPU_MIB))} vCPU"
            )
    # No size keeps the target (see the warnings): more memory would cost more and still miss it.
    return fitting[
        0
    ], f"the smallest of {sizes_mib} MB that holds a batch (~{need_mib:,.0f} MB): none keeps the latency target"


def _timeout(sizing: _Sizing, speed: ConsumerSpeed, *, batch_size: int, memory_mib: int) -> tuple[int, str]:
    worst_batch = speed.batch_seconds(batch_size, memory_mib) * a.DUPLICATE_FALLBACK_FACTOR
    needed = a.PROXY_BORROW_TIMEOUT_S + a.CONNECT_TIMEOUT_S + a.DEADLINE_MARGIN_S + a.TIMEOUT_SAFETY * worst_batch
    timeout = max(a.TIMEOUT_FLOOR_S, math.ceil(needed / 10) * 10)
    if timeout > a.LAMBDA_MAX_TIMEOUT_SECONDS:
        sizing.warnings.append(
            f"A batch can take {_fmt(worst_batch)} s (idempotent fallback): more than Lambda's 15-minute timeout "
            "allows with a safety margin; pin a smaller --batch-size or more --memory."
        )
        timeout = a.LAMBDA_MAX_TIMEOUT_SECONDS
    return timeout, (
        f"RDS Proxy's borrow timeout ({a.PROXY_BORROW_TIMEOUT_S} s) + connect ({a.CONNECT_TIMEOUT_S} s) + deadline "
        f"margin ({a.DEADLINE_MARGIN_S} s) + {a.TIMEOUT_SAFETY}x the slowest batch (idempotent fallback, "
        f"{_fmt(worst_batch)} s), at least {a.TIMEOUT_FLOOR_S} s (AWS: at most {a.LAMBDA_MAX_TIMEOUT_SECONDS} s)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Consumer:
    batch_size: int
    window_s: int
    memory_mib: int


def _concurrency(sizing: _Sizing, speed: ConsumerSpeed, consumer: _Consumer) -> tuple[int, float, str]:
    workload = sizing.workload
    peak = workload.peak_rate_per_s
    batch = _effective_batch(peak, batch_size=consumer.batch_size, window_s=consumer.window_s)
    busy = peak / batch * speed.batch_seconds(batch, consumer.memory_mib)
    wanted = math.ceil(busy * a.CATCH_UP_FACTOR)
    low, high = ESM_MAX_CONCURRENCY_RANGE
    reason = (
        f"the peak keeps {_fmt(busy)} environments busy ({_fmt(peak)} events/s in batches of {_fmt(batch)}); "
        f"x{a.CATCH_UP_FACTOR} to drain a backlog while keeping up (AWS: {low}..{high:,})"
    )
    if workload.fifo and workload.groups is not None:
        per_group = a.SQS_MAX_BATCH_SIZE_FIFO / speed.batch_seconds(a.SQS_MAX_BATCH_SIZE_FIFO, consumer.memory_mib)
        if peak / workload.groups > per_group:
            sizing.warnings.append(
                f"FIFO group throughput: each message group is consumed one batch at a time, ~{_fmt(per_group)} "
                f"events/s per group here; the peak needs {_fmt(peak / workload.groups)} per group over "
                f"{workload.groups} groups. Use at least {math.ceil(peak / per_group):,} groups."
            )
        if wanted > workload.groups:
            wanted = workload.groups
            reason += f"; no more than the {workload.groups} message groups (one batch per group at a time)"
    if wanted > high:
        sizing.warnings.append(
            f"The peak needs {wanted:,} concurrent consumers with catch-up room, above the event source's maximum "
            f"of {high:,}: pin more --memory, or split the stream over several queues."
        )
    return min(max(wanted, low), high), busy, reason


def _consumer(sizing: _Sizing, result: WritePathResult) -> tuple[ConsumerPlan, ConsumerSpeed]:
    workload = sizing.workload
    batch_size, batch_reason = _batch_size(sizing)
    speed = ConsumerSpeed.measured(result, payload_bytes=workload.payload_bytes, batch=batch_size)
    window, batch_size, window_reason = _window(sizing, batch_size, speed)
    speed = ConsumerSpeed.measured(result, payload_bytes=workload.payload_bytes, batch=batch_size)
    memory, memory_reason = _memory(sizing, speed, batch_size=batch_size, window_s=window)
    timeout, timeout_reason = _timeout(sizing, speed, batch_size=batch_size, memory_mib=memory)
    chosen = _Consumer(batch_size=batch_size, window_s=window, memory_mib=memory)
    concurrency, busy, concurrency_reason = _concurrency(sizing, speed, chosen)
    latency = _latency_s(workload, speed, batch_size=batch_size, window_s=window, memory_mib=memory)
    if latency > workload.max_latency_s:
        sizing.warnings.append(
            f"The latency target ({workload.max_latency_s:g} s) cannot be met: delivery ({a.DELIVERY_ALLOWANCE_S:g} "
            f"s), the batch filling and processing take up to {_fmt(latency)} s."
        )
    visibility = a.VISIBILITY_TIMEOUT_FACTOR * timeout + window
    settings = (
        Setting(name="batch size", value=batch_size, unit="events", reason=batch_reason),
        Setting(name="batching window", value=window, unit="s", reason=window_reason),
        Setting(name="memory", value=memory, unit="MB", reason=memory_reason),
        Setting(name="timeout", value=timeout, unit="s", reason=timeout_reason),
        Setting(name="maximum concurrency", value=concurrency, unit="environments", reason=concurrency_reason),
        Setting(
            name="visibility timeout",
            value=visibility,
            unit="s",
            reason=f"{a.VISIBILITY_TIMEOUT_FACTOR} x timeout + window (AWS: at least {a.VISIBILITY_TIMEOUT_FACTOR}x "
            "the function timeout, so a batch being retried is not delivered twice)",
        ),
    )
    plan = ConsumerPlan(
        batch_size=batch_size,
        batching_window_s=window,
        memory_mib=memory,
        timeout_s=timeout,
        max_concurrency=concurrency,
        visibility_timeout_s=visibility,
        batch_at_steady=_effective_batch(workload.rate_per_s, batch_size=batch_size, window_s=window),
        batch_at_peak=_effective_batch(workload.peak_rate_per_s, batch_size=batch_size, window_s=window),
        busy_environments_at_peak=busy,
        latency_s=latency,
        settings=settings,
    )
    return plan, speed


@dataclass(frozen=True, slots=True, kw_only=True)
class _Fit:
    instance: InstanceClass
    budget: ConnectionBudget
    capacity_rows_s: float
    io_bytes_s: float
    allocated_gib: int

    def fits(self, *, peak: float, concurrency: int) -> bool:
        return peak <= a.DB_TARGET_UTILISATION * self.capacity_rows_s and self.budget.available >= concurrency


def _fit(
    instance: InstanceClass, *, per_vcpu: float, sizes: EventSizes, growth_gib: float, peak: float, concurrency: int
) -> _Fit:
    """What ``instance`` sustains: CPU (baseline share for T classes) and storage bandwidth, with its budget."""
    write_per_row = sizes.stored * a.WRITE_AMPLIFICATION
    allocated = min(max(a.MIN_STORAGE_GIB, math.ceil(growth_gib)), a.RDS_MAX_STORAGE_GIB - 1)
    ebs = instance.ebs_baseline_mbps * _MEGABIT
    # gp3 stripes from 400 GiB: allocate that much when the baseline's bandwidth is short and striping helps.
    if peak * write_per_row > a.DB_TARGET_UTILISATION * min(a.GP3_BASELINE_MIB_S * _MIB, ebs):
        allocated = max(allocated, a.GP3_STRIPED_MIN_GIB)
    gp3 = (a.GP3_STRIPED_MIB_S if allocated >= a.GP3_STRIPED_MIN_GIB else a.GP3_BASELINE_MIB_S) * _MIB
    io_bytes_s = min(gp3, ebs)
    max_connections = pinned_max_connections(instance)
    return _Fit(
        instance=instance,
        budget=ConnectionBudget(
            max_connections=max_connections,
            max_connections_percent=a.PROXY_MAX_CONNECTIONS_PERCENT,
            reserved_connections=a.RESERVED_CONNECTIONS,
            connections_per_environment=1,
            concurrency_cap=concurrency,
        ),
        capacity_rows_s=min(per_vcpu * instance.vcpus * instance.baseline_cpu, io_bytes_s / write_per_row),
        io_bytes_s=io_bytes_s,
        allocated_gib=allocated,
    )


def _database(
    sizing: _Sizing, result: WritePathResult, prices: PriceSheet, consumer: ConsumerPlan
) -> tuple[DatabasePlan, ConsumerPlan]:
    workload, sizes = sizing.workload, sizing.sizes
    peak = workload.peak_rate_per_s
    per_vcpu = interpolate(result.sluice_rows_per_s(), consumer.batch_at_peak) / work_factor(
        workload.payload_bytes, result.payload_bytes
    )
    growth_gib = workload.rate_per_s * a.MONTH_SECONDS * sizes.stored / _GIB
    priced = sorted(
        (price, INSTANCE_CLASSES[name]) for name, price in prices.rds.instance_hour.items() if name in INSTANCE_CLASSES
    )
    if not priced:
        raise ConfigurationError(f"no RDS instance prices for a known instance class in {prices.region}")
    fits = [
        _fit(
            instance,
            per_vcpu=per_vcpu,
            sizes=sizes,
            growth_gib=growth_gib,
            peak=peak,
            concurrency=consumer.max_concurrency,
        )
        for _, instance in priced
    ]
    if workload.instance_type is not None:
        chosen = _fit(
            instance_class(workload.instance_type),
            per_vcpu=per_vcpu,
            sizes=sizes,
            growth_gib=growth_gib,
            peak=peak,
            concurrency=consumer.max_concurrency,
        )
        reason = "pinned by --instance"
        if chosen.instance.name not in prices.rds.instance_hour:
            raise ConfigurationError(
                f"cannot plan: no price for db.{chosen.instance.name} in {prices.region}: add it with --prices"
            )
    else:
        fitting = [fit for fit in fits if fit.fits(peak=peak, concurrency=consumer.max_concurrency)]
        chosen = fitting[0] if fitting else max(fits, key=lambda fit: fit.capacity_rows_s)
        reason = (
            f"the cheapest class that writes the peak at <= {a.DB_TARGET_UTILISATION:.0%} of its capacity and whose "
            "proxy budget admits the consumers"
        )
    consumer = _within_budget(sizing, consumer, chosen)
    database = _database_plan(sizing, chosen, reason=reason, per_vcpu=per_vcpu, growth=growth_gib, consumer=consumer)
    return database, consumer


def _within_budget(sizing: _Sizing, consumer: ConsumerPlan, chosen: _Fit) -> ConsumerPlan:
    """``consumer`` with no more concurrency than ``chosen``'s proxy budget admits (a pinned or too small class).

    Raises:
        ConfigurationError: the budget admits fewer than AWS's minimum of 2 consumers.
    """
    admitted = min(chosen.budget.available, ESM_MAX_CONCURRENCY_RANGE[1])
    if admitted >= consumer.max_concurrency:
        return consumer
    name = f"db.{chosen.instance.name}"
    if admitted < ESM_MAX_CONCURRENCY_RANGE[0]:
        raise ConfigurationError(
            f"cannot plan: {name}'s proxy budget ({chosen.budget.proxy_connections} connections, "
            f"{chosen.budget.reserved_connections} reserved) admits fewer than 2 consumers"
        )
    sizing.warnings.append(
        f"{name}'s proxy budget admits {admitted} consumers, fewer than the {consumer.max_concurrency} the peak "
        "wants: the backlog of a burst drains slowly. Choose a larger class."
    )
    settings = tuple(
        dataclasses.replace(setting, value=admitted, reason=f"{name}'s proxy budget allows no more; {setting.reason}")
        if setting.name == "maximum concurrency"
        else setting
        for setting in consumer.settings
    )
    return dataclasses.replace(consumer, max_concurrency=admitted, settings=settings)


def _database_plan(
    sizing: _Sizing, chosen: _Fit, *, reason: str, per_vcpu: float, growth: float, consumer: ConsumerPlan
) -> DatabasePlan:
    workload, sizes = sizing.workload, sizing.sizes
    instance, budget = chosen.instance, chosen.budget
    peak, growth_gib = workload.peak_rate_per_s, growth
    utilisation = peak / chosen.capacity_rows_s
    if utilisation > a.DB_TARGET_UTILISATION:
        sizing.warnings.append(
            f"No instance class writes the peak ({_fmt(peak)} rows/s) at <= {a.DB_TARGET_UTILISATION:.0%}: "
            f"db.{instance.name} would run at {utilisation:.0%} of its estimated {_fmt(chosen.capacity_rows_s)} "
            "rows/s. Shard the stream over several databases, or measure a bigger instance with `make bench`."
        )
    months_to_limit = a.RDS_MAX_STORAGE_GIB / growth_gib if growth_gib > 0 else None
    if months_to_limit is not None and months_to_limit < a.STORAGE_HORIZON_MONTHS:
        sizing.warnings.append(
            f"The events table grows {_fmt(growth_gib)} GiB a month and reaches RDS's 64 TiB limit in "
            f"{months_to_limit:.1f} months: add retention (time partitions dropped when expired) or archive."
        )
    connections_used = consumer.max_concurrency + budget.reserved_connections
    max_allocated = min(
        a.RDS_MAX_STORAGE_GIB,
        max(chosen.allocated_gib + 1, 100, math.ceil(chosen.allocated_gib + growth_gib * a.STORAGE_HORIZON_MONTHS)),
    )
    cpu_capacity = per_vcpu * instance.vcpus * instance.baseline_cpu
    burst = f", {instance.baseline_cpu:.0%} baseline CPU (burstable)" if instance.burstable else ""
    settings = (
        Setting(
            name="instance class",
            value=f"db.{instance.name}",
            unit="",
            reason=f"{reason}: {instance.vcpus} vCPU{burst}, {instance.memory_gib} GiB; peak at {utilisation:.0%}",
        ),
        Setting(
            name="max_connections",
            value=budget.max_connections,
            unit="(pinned)",
            reason=f"RDS's formula LEAST(memory/9531392, 5000) on {instance.memory_gib} GiB less "
            f"{a.OS_RESERVED_MIB} MiB that RDS keeps, down to tens",
        ),
        Setting(
            name="proxy budget",
            value=f"{connections_used} of {budget.proxy_connections}",
            unit="connections",
            reason=f"{consumer.max_concurrency} consumers (one pooled connection each) + {budget.reserved_connections} "
            f"reserved; RDS Proxy may open {budget.max_connections_percent} % of max_connections "
            f"({connections_used / budget.proxy_connections:.0%} used)",
        ),
        Setting(
            name="write capacity",
            value=round(chosen.capacity_rows_s),
            unit="rows/s",
            reason=f"CPU {_fmt(cpu_capacity)} ({_fmt(per_vcpu)} rows/s per vCPU, measured) and storage "
            f"{_fmt(chosen.io_bytes_s / chosen.capacity_rows_s if chosen.capacity_rows_s else 0)} bytes/row at "
            f"{_fmt(chosen.io_bytes_s / _MIB)} MiB/s (gp3 and the class's EBS baseline), the lower of the two",
        ),
        Setting(
            name="new connections",
            value=f"<= {a.ESM_SCALE_UP_PER_MINUTE // 60}/s, {consumer.max_concurrency} at once after a failover",
            unit="",
            reason=f"the event source adds at most {a.ESM_SCALE_UP_PER_MINUTE} environments a minute; IAM "
            f"authentication is recommended below {a.IAM_NEW_CONNECTIONS_PER_S} new connections/s (AWS)",
        ),
        Setting(
            name="storage growth",
            value=round(growth_gib, 1),
            unit="GiB/month",
            reason=f"{_fmt(workload.rate_per_s)} events/s x {sizes.stored:,} bytes per stored row (jsonb payload "
            f"+ row and primary-key overhead{', TOAST not counted' if sizes.toasted else ''})",
        ),
        Setting(
            name="allocated storage",
            value=f"{chosen.allocated_gib:,} -> {max_allocated:,}",
            unit="GiB (autoscaling)",
            reason=f"a month of growth (at least {a.MIN_STORAGE_GIB} GiB"
            f"{', 400 GiB for gp3 striping at 500 MiB/s' if chosen.allocated_gib == a.GP3_STRIPED_MIN_GIB else ''}), "
            f"autoscaling up to {a.STORAGE_HORIZON_MONTHS} months more (RDS: at most 64 TiB)",
        ),
    )
    if consumer.max_concurrency > a.IAM_NEW_CONNECTIONS_PER_S:
        sizing.warnings.append(
            f"After a database failover up to {consumer.max_concurrency} consumer environments reconnect within "
            f"seconds: above the {a.IAM_NEW_CONNECTIONS_PER_S} new connections/s AWS recommends for IAM "
            "authentication. Use DatabaseAuth.SECRET for this stage, or a lower maximum concurrency."
        )
    return DatabasePlan(
        instance_type=instance.name,
        vcpus=instance.vcpus,
        max_connections=budget.max_connections,
        proxy_connections=budget.proxy_connections,
        reserved_connections=budget.reserved_connections,
        connections_used=connections_used,
        budget_share=connections_used / budget.proxy_connections,
        write_capacity_rows_s=chosen.capacity_rows_s,
        rows_per_vcpu_s=per_vcpu,
        peak_utilisation=utilisation,
        storage_write_bytes_s=peak * sizes.stored * a.WRITE_AMPLIFICATION,
        growth_gib_per_month=growth_gib,
        allocated_storage_gib=chosen.allocated_gib,
        max_allocated_storage_gib=max_allocated,
        months_to_storage_limit=months_to_limit,
        settings=settings,
    )


def _machine(result: WritePathResult) -> str:
    machine = result.machine
    parts = [
        f"{machine.get('cpus', '?')} CPUs",
        str(machine.get("cpu_model", "")),
        f"PostgreSQL {machine.get('postgresql', '?')}",
        str(machine.get("server", "")),
    ]
    load = machine.get("load_average")
    if isinstance(load, list) and load:
        parts.append(f"load average {load[0]}")
    return ", ".join(part for part in parts if part)


def make_plan(workload: Workload, *, measured: WritePathResult, prices: PriceSheet) -> Plan:
    """Size and price a deployment for ``workload``.

    Raises:
        ConfigurationError: an input is invalid or a pinned setting breaks an AWS limit.
    """
    workload.validate()
    sizing = _Sizing(workload=workload, sizes=event_sizes(workload.payload_bytes), warnings=[])
    if workload.fifo and workload.peak_rate_per_s > a.FIFO_QUEUE_EVENTS_PER_S:
        sizing.warnings.append(
            f"FIFO queue throughput: without high-throughput mode (the stack does not enable it) a FIFO queue "
            f"takes {a.FIFO_QUEUE_EVENTS_PER_S:,} events/s (300 API calls/s per action, batches of 10); the "
            f"peak is {_fmt(workload.peak_rate_per_s)}."
        )
    consumer, speed = _consumer(sizing, measured)
    database, consumer = _database(sizing, measured, prices, consumer)
    throughput = Throughput(
        origin=measured.origin or "shipped with Sluice",
        measured_at=measured.measured_at.isoformat(),
        machine=_machine(measured),
        measured_payload_bytes=measured.payload_bytes,
        handler_events_per_s=interpolate(
            sorted((figure.batch, figure.messages_per_s) for figure in measured.handler), consumer.batch_size
        ),
        work_factor=work_factor(workload.payload_bytes, measured.payload_bytes),
        event_seconds=speed.event_s * max(1.0, a.FULL_VCPU_MIB / consumer.memory_mib),
        batch_seconds=speed.batch_seconds(consumer.batch_size, consumer.memory_mib),
        environment_events_per_s=consumer.batch_size / speed.batch_seconds(consumer.batch_size, consumer.memory_mib),
        database_rows_per_vcpu_s=database.rows_per_vcpu_s,
    )
    context = PlanContext(
        stage=workload.stage,
        fifo=workload.fifo,
        batch_size=consumer.batch_size,
        batching_window_seconds=consumer.batching_window_s,
        consumer_timeout_seconds=consumer.timeout_s,
        consumer_memory_mib=consumer.memory_mib,
        max_concurrency=consumer.max_concurrency,
        instance_type=database.instance_type,
        max_connections=database.max_connections,
        proxy_max_connections_percent=a.PROXY_MAX_CONNECTIONS_PERCENT,
        reserved_connections=database.reserved_connections,
        multi_az=workload.multi_az,
        allocated_storage_gib=database.allocated_storage_gib,
        max_allocated_storage_gib=database.max_allocated_storage_gib,
        network="nat" if workload.network is Network.NAT else "endpoints",
        nat_gateways=workload.nat_gateways if workload.network is Network.NAT else 0,
        log_retention_days=workload.log_retention_days,
    )
    return Plan(
        workload=workload,
        sizes=sizing.sizes,
        consumer=consumer,
        database=database,
        throughput=throughput,
        costs=estimate_costs(
            workload, sizes=sizing.sizes, consumer=consumer, database=database, speed=speed, prices=prices
        ),
        warnings=tuple(sizing.warnings),
        prices=prices,
        context=context,
    )
