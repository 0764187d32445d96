"""Sizing the consumer: the event source's batch size and window, the function's memory and timeout, and the
maximum concurrency, each with the one line of reasoning the plan prints. No I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sluice_cli.plan import assumptions as a
from sluice_cli.plan.model import ConsumerPlan, Setting
from sluice_cli.plan.throughput import ConsumerSpeed, Sizing, effective_batch, fmt, wait_s
from sluice_shared.capacity import ESM_MAX_CONCURRENCY_RANGE
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from sluice_cli.plan.model import Workload, WritePathResult

__all__ = ["minimum_concurrency", "size_consumer"]

_MIB = 1024**2


def _batch_size(sizing: Sizing) -> tuple[int, str]:
    workload, sizes = sizing.workload, sizing.sizes
    by_payload = a.LAMBDA_SYNC_PAYLOAD_BYTES // sizes.record
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


def _window(sizing: Sizing, batch_size: int, speed: ConsumerSpeed) -> tuple[int, int, str]:
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
        if window == 0 and batch_size > a.SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW:
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
        if workload.batch_size is not None and batch_size > a.SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW:
            sizing.warnings.append(
                f"The latency target ({workload.max_latency_s:g} s) leaves no room for the 1 s batching window "
                f"that batches of {batch_size} need."
            )
            return 1, batch_size, "the smallest window that allows batches above 10 (AWS)"
        sizing.warnings.append(
            f"The latency target ({workload.max_latency_s:g} s) is below the smallest batching window (1 s) that "
            "allows batches above 10: batches of at most 10, so many more invocations and SQS requests."
        )
        batch = min(batch_size, a.SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW)
        return 0, batch, f"no window fits the latency target, so batches of at most {batch} (AWS: 10 without one)"
    window = min(max(math.ceil(fill_s), 1), math.floor(budget_s), a.SQS_MAX_BATCHING_WINDOW_SECONDS)
    return (
        window,
        batch_size,
        (
            f"each of {a.STANDARD_POLLERS} pollers fills a batch of {batch_size:,} in {fmt(fill_s)} s at "
            f"{fmt(workload.rate_per_s)} events/s; the latency target leaves {fmt(budget_s)} s to wait "
            f"(AWS: at most {a.SQS_MAX_BATCHING_WINDOW_SECONDS} s)"
        ),
    )


def _latency_s(workload: Workload, speed: ConsumerSpeed, *, batch_size: int, window_s: int, memory_mib: int) -> float:
    """Worst enqueue -> committed row at the steady and the peak rate, nothing failing."""
    worst = 0.0
    for rate in (workload.rate_per_s, workload.peak_rate_per_s):
        batch = effective_batch(rate, batch_size=batch_size, window_s=window_s)
        wait = wait_s(rate, batch_size=batch_size, window_s=window_s)
        worst = max(worst, a.DELIVERY_ALLOWANCE_S + wait + speed.batch_seconds(batch, memory_mib))
    return worst


def _memory(sizing: Sizing, speed: ConsumerSpeed, *, batch_size: int, window_s: int) -> tuple[int, str]:
    workload, sizes = sizing.workload, sizing.sizes
    need_mib = a.LAMBDA_RUNTIME_MIB + batch_size * sizes.record * a.PYTHON_BYTES_FACTOR / _MIB
    if workload.memory_mib is not None:
        if workload.memory_mib < need_mib:
            sizing.warnings.append(
                f"--memory {workload.memory_mib} MB is below the ~{need_mib:,.0f} MB a batch of {batch_size:,} needs "
                "(the runtime, and the batch as event, models and rows): the function may run out of memory."
            )
        return workload.memory_mib, "pinned by --memory"
    fitting = [m for m in a.MEMORY_CANDIDATES_MIB if m >= need_mib] or [a.MEMORY_CANDIDATES_MIB[-1]]
    sizes_mib = "/".join(map(str, a.MEMORY_CANDIDATES_MIB))
    for memory in fitting:
        latency = _latency_s(workload, speed, batch_size=batch_size, window_s=window_s, memory_mib=memory)
        if latency <= workload.max_latency_s:
            seconds = speed.batch_seconds(batch_size, memory)
            return memory, (
                f"the smallest of {sizes_mib} MB that holds a batch (~{need_mib:,.0f} MB) and keeps the latency "
                f"target: a full batch takes {fmt(seconds)} s at {fmt(min(1.0, memory / a.FULL_VCPU_MIB))} vCPU"
            )
    # No size keeps the target (see the warnings): more memory would cost more and still miss it.
    reason = f"the smallest of {sizes_mib} MB that holds a batch (~{need_mib:,.0f} MB): none keeps the latency target"
    return fitting[0], reason


def _timeout(sizing: Sizing, speed: ConsumerSpeed, *, batch_size: int, memory_mib: int) -> tuple[int, str]:
    worst_batch = speed.batch_seconds(batch_size, memory_mib) * a.DUPLICATE_FALLBACK_FACTOR
    needed = a.PROXY_BORROW_TIMEOUT_S + a.CONNECT_TIMEOUT_S + a.DEADLINE_MARGIN_S + a.TIMEOUT_SAFETY * worst_batch
    timeout = max(a.TIMEOUT_FLOOR_S, math.ceil(needed / 10) * 10)
    if timeout > a.LAMBDA_MAX_TIMEOUT_SECONDS:
        sizing.warnings.append(
            f"A batch can take {fmt(worst_batch)} s (idempotent fallback): more than Lambda's 15-minute timeout "
            "allows with a safety margin; pin a smaller --batch-size or more --memory."
        )
        timeout = a.LAMBDA_MAX_TIMEOUT_SECONDS
    return timeout, (
        f"RDS Proxy's borrow timeout ({a.PROXY_BORROW_TIMEOUT_S} s) + connect ({a.CONNECT_TIMEOUT_S} s) + deadline "
        f"margin ({a.DEADLINE_MARGIN_S} s) + {a.TIMEOUT_SAFETY}x the slowest batch (idempotent fallback, "
        f"{fmt(worst_batch)} s), at least {a.TIMEOUT_FLOOR_S} s (AWS: at most {a.LAMBDA_MAX_TIMEOUT_SECONDS} s)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Consumer:
    batch_size: int
    window_s: int
    memory_mib: int


def _concurrency(sizing: Sizing, speed: ConsumerSpeed, consumer: _Consumer) -> tuple[int, float, str]:
    workload = sizing.workload
    peak = workload.peak_rate_per_s
    batch = effective_batch(peak, batch_size=consumer.batch_size, window_s=consumer.window_s)
    busy = peak / batch * speed.batch_seconds(batch, consumer.memory_mib)
    wanted = math.ceil(busy * a.CATCH_UP_FACTOR)
    low, high = ESM_MAX_CONCURRENCY_RANGE
    reason = (
        f"the peak keeps {fmt(busy)} environments busy ({fmt(peak)} events/s in batches of {fmt(batch)}); "
        f"x{a.CATCH_UP_FACTOR} to drain a backlog while keeping up (AWS: {low}..{high:,})"
    )
    if workload.fifo and workload.groups is not None:
        per_group = a.SQS_MAX_BATCH_SIZE_FIFO / speed.batch_seconds(a.SQS_MAX_BATCH_SIZE_FIFO, consumer.memory_mib)
        if peak / workload.groups > per_group:
            sizing.warnings.append(
                f"FIFO group throughput: each message group is consumed one batch at a time, ~{fmt(per_group)} "
                f"events/s per group here; the peak needs {fmt(peak / workload.groups)} per group over "
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
    floor = minimum_concurrency()
    if wanted < floor:
        reason += (
            f"; at least {floor} so the stack's client-connections alarm ({a.CLIENT_ALARM_PERCENT} % of consumers + "
            f"{a.RESERVED_CONNECTIONS} reserved) lies above the reserved connections"
        )
    return min(max(wanted, floor), high), busy, reason


def minimum_concurrency() -> int:
    """The smallest concurrency the stack accepts: AWS's 2, and enough for its client-connections alarm to fire.

    The stack alarms when clients reach ``CLIENT_ALARM_PERCENT`` of ``consumers + reserved`` connections, and
    refuses a budget whose threshold does not lie above the reserved connections (operators alone would set it off).
    """
    consumers = ESM_MAX_CONCURRENCY_RANGE[0]
    while math.ceil((consumers + a.RESERVED_CONNECTIONS) * a.CLIENT_ALARM_PERCENT / 100) <= a.RESERVED_CONNECTIONS:
        consumers += 1
    return consumers


def size_consumer(sizing: Sizing, result: WritePathResult) -> tuple[ConsumerPlan, ConsumerSpeed]:
    """The consumer's settings for ``sizing``'s workload, and the speed model they were sized with.

    Raises:
        ConfigurationError: a pinned setting breaks an AWS limit.
    """
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
            f"s), the batch filling and processing take up to {fmt(latency)} s."
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
        batch_at_steady=effective_batch(workload.rate_per_s, batch_size=batch_size, window_s=window),
        batch_at_peak=effective_batch(workload.peak_rate_per_s, batch_size=batch_size, window_s=window),
        busy_environments_at_peak=busy,
        latency_s=latency,
        settings=settings,
    )
    return plan, speed
