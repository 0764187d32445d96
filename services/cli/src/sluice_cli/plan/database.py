"""Sizing the database: the instance class, its pinned ``max_connections`` and proxy budget, its write capacity
and storage, each with the one line of reasoning the plan prints. No I/O here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sluice_cli.plan import assumptions as a
from sluice_cli.plan.model import ConsumerPlan, DatabasePlan, Setting
from sluice_cli.plan.throughput import Sizing, fmt, interpolate, work_factor
from sluice_shared.capacity import (
    ESM_MAX_CONCURRENCY_RANGE,
    INSTANCE_CLASSES,
    ConnectionBudget,
    InstanceClass,
    default_max_connections,
    instance_class,
)
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from sluice_cli.plan.model import EventSizes, PriceSheet, WritePathResult

__all__ = ["pinned_max_connections", "size_database"]

_MIB = 1024**2
_GIB = 1024**3
_MEGABIT = 1_000_000 / 8  # bytes/s in one Mbit/s


def pinned_max_connections(instance: InstanceClass) -> int:
    """The ``max_connections`` a plan pins: RDS's formula on the memory less what RDS keeps, down to tens."""
    return max(10, default_max_connections(instance.name, reserved_mib=a.OS_RESERVED_MIB) // 10 * 10)


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


def size_database(
    sizing: Sizing, result: WritePathResult, prices: PriceSheet, consumer: ConsumerPlan
) -> tuple[DatabasePlan, ConsumerPlan]:
    """The database for ``sizing``'s workload, and ``consumer`` with no more concurrency than its budget admits.

    Raises:
        ConfigurationError: no priced class, a pinned class without a price, or a budget below 2 consumers.
    """
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


def _within_budget(sizing: Sizing, consumer: ConsumerPlan, chosen: _Fit) -> ConsumerPlan:
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
    sizing: Sizing, chosen: _Fit, *, reason: str, per_vcpu: float, growth: float, consumer: ConsumerPlan
) -> DatabasePlan:
    workload, sizes = sizing.workload, sizing.sizes
    instance, budget = chosen.instance, chosen.budget
    peak, growth_gib = workload.peak_rate_per_s, growth
    utilisation = peak / chosen.capacity_rows_s
    if utilisation > a.DB_TARGET_UTILISATION:
        sizing.warnings.append(
            f"No instance class writes the peak ({fmt(peak)} rows/s) at <= {a.DB_TARGET_UTILISATION:.0%}: "
            f"db.{instance.name} would run at {utilisation:.0%} of its estimated {fmt(chosen.capacity_rows_s)} "
            "rows/s. Shard the stream over several databases, or measure a bigger instance with `make bench`."
        )
    months_to_limit = a.RDS_MAX_STORAGE_GIB / growth_gib if growth_gib > 0 else None
    if months_to_limit is not None and months_to_limit < a.STORAGE_HORIZON_MONTHS:
        sizing.warnings.append(
            f"The events table grows {fmt(growth_gib)} GiB a month and reaches RDS's 64 TiB limit in "
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
            reason=f"CPU {fmt(cpu_capacity)} ({fmt(per_vcpu)} rows/s per vCPU, measured) and storage "
            f"{fmt(chosen.io_bytes_s / chosen.capacity_rows_s if chosen.capacity_rows_s else 0)} bytes/row at "
            f"{fmt(chosen.io_bytes_s / _MIB)} MiB/s (gp3 and the class's EBS baseline), the lower of the two",
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
            reason=f"{fmt(workload.rate_per_s)} events/s x {sizes.stored:,} bytes per stored row (jsonb payload "
            f"+ row and primary-key overhead{', TOAST not counted' if sizes.toasted else ''}); the primary key "
            f"alone grows {fmt(growth_gib * a.PRIMARY_KEY_BYTES / sizes.stored)} GiB a month: keep event ids "
            "time-ordered (UUIDv7, as the ingest function assigns) so inserts only touch its right edge",
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
