"""``sluice plan``'s arithmetic: from a workload, a measured write path and a price sheet to a whole plan.

The steps live in their own modules: :mod:`~sluice_cli.plan.throughput` (event sizes, time per batch),
:mod:`~sluice_cli.plan.consumer` (event source and function), :mod:`~sluice_cli.plan.database` (instance,
budget, storage) and :mod:`~sluice_cli.plan.costs` (the monthly estimate). Everything follows from SQS's and
Lambda's limits and the constants in :mod:`sluice_cli.plan.assumptions`. No I/O here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice_cli.plan import assumptions as a
from sluice_cli.plan.choices import Network
from sluice_cli.plan.consumer import size_consumer
from sluice_cli.plan.costs import estimate_costs
from sluice_cli.plan.database import size_database
from sluice_cli.plan.model import Plan, Throughput
from sluice_cli.plan.throughput import Sizing, event_sizes, fmt, interpolate, work_factor
from sluice_shared.plan_context import PlanContext

if TYPE_CHECKING:
    from sluice_cli.plan.model import PriceSheet, Workload, WritePathResult

__all__ = ["make_plan"]


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
    sizing = Sizing(workload=workload, sizes=event_sizes(workload.payload_bytes), warnings=[])
    if workload.fifo and workload.peak_rate_per_s > a.FIFO_QUEUE_EVENTS_PER_S:
        sizing.warnings.append(
            f"FIFO queue throughput: without high-throughput mode (the stack does not enable it) a FIFO queue "
            f"takes {a.FIFO_QUEUE_EVENTS_PER_S:,} events/s (300 API calls/s per action, batches of 10); the "
            f"peak is {fmt(workload.peak_rate_per_s)}."
        )
    consumer, speed = size_consumer(sizing, measured)
    database, consumer = size_database(sizing, measured, prices, consumer)
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
        tracing=workload.tracing,
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
