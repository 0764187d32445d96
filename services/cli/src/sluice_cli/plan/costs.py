"""The monthly cost estimate of a plan, line by line, from a :class:`~sluice_cli.plan.model.PriceSheet`.

Volumes are the steady rate over a 730-hour month. Free tiers, savings plans, reserved instances, taxes and
support are left out; so is whatever the stack does not create. Each line says how it was counted. No I/O here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sluice_cli.plan import assumptions as a
from sluice_cli.plan.choices import Network
from sluice_cli.plan.model import CostLine
from sluice_shared.limits import SQS_MAX_WAIT_SECONDS

if TYPE_CHECKING:
    from sluice_cli.plan.model import ConsumerPlan, DatabasePlan, EventSizes, PriceSheet, Workload
    from sluice_cli.plan.throughput import ConsumerSpeed

__all__ = ["estimate_costs", "sqs_billed_requests"]

_GB = 1024**3  # AWS bills data in GB of 2^30 bytes
_MILLION = 1_000_000
_LONG_POLL_S = SQS_MAX_WAIT_SECONDS  # the event source's ReceiveMessage wait when the queue is empty
_DAYS_PER_MONTH = 730 / 24


def sqs_billed_requests(*, messages: float, per_call: float, body_bytes: int) -> float:
    """Billed requests for ``messages`` moved ``per_call`` at a time: each 64 KiB chunk of a call counts once."""
    calls = messages / per_call
    return calls * max(1, math.ceil(per_call * body_bytes / a.SQS_BILLING_CHUNK_BYTES))


def _n(value: float) -> str:
    """A count for a basis line: 5.26M, 657k, 12."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def estimate_costs(
    workload: Workload,
    *,
    sizes: EventSizes,
    consumer: ConsumerPlan,
    database: DatabasePlan,
    speed: ConsumerSpeed,
    prices: PriceSheet,
) -> tuple[CostLine, ...]:
    """The plan's monthly cost, by service and item."""
    events = workload.rate_per_s * a.MONTH_SECONDS
    hours = prices.hours_per_month
    lines = [
        *_lambda(workload, events=events, consumer=consumer, speed=speed, prices=prices),
        *_sqs(workload, events=events, sizes=sizes, consumer=consumer, prices=prices),
        *_rds(workload, database=database, hours=hours, prices=prices),
        *_network(workload, events=events, sizes=sizes, hours=hours, prices=prices),
        *_cloudwatch(workload, events=events, consumer=consumer, prices=prices),
        *_xray(workload, events=events, consumer=consumer, prices=prices),
        CostLine(
            service="Secrets Manager",
            item="database secret",
            usd_per_month=prices.secrets_manager.secret_month,
            basis="1 secret (API calls: the proxy's, negligible)",
        ),
    ]
    return tuple(lines)


def _lambda(
    workload: Workload, *, events: float, consumer: ConsumerPlan, speed: ConsumerSpeed, prices: PriceSheet
) -> list[CostLine]:
    rates = prices.lambda_
    gb_second = rates.gb_second[workload.architecture]
    invocations = events / consumer.batch_at_steady
    seconds = speed.batch_seconds(consumer.batch_at_steady, consumer.memory_mib)
    gb_seconds = invocations * seconds * consumer.memory_mib / 1024
    lines = [
        CostLine(
            service="Lambda",
            item="consumer requests",
            usd_per_month=invocations / _MILLION * rates.requests_per_million,
            basis=f"{_n(invocations)} invocations ({_n(events)} events in batches of {consumer.batch_at_steady:,.0f})",
        ),
        CostLine(
            service="Lambda",
            item="consumer duration",
            usd_per_month=gb_seconds * gb_second,
            basis=f"{_n(gb_seconds)} GB-s ({seconds * 1000:,.0f} ms x {consumer.memory_mib} MB, "
            f"{workload.architecture})",
        ),
    ]
    per_request = workload.ingest_events_per_request
    if per_request:
        requests = events / per_request
        cpu = max(1.0, a.FULL_VCPU_MIB / a.INGEST_MEMORY_MIB)
        calls = math.ceil(per_request / a.SQS_MAX_BATCH_ENTRIES)
        duration = a.INGEST_REQUEST_OVERHEAD_S + calls * a.SQS_API_CALL_S + per_request * speed.event_s * cpu
        ingest_gb_seconds = requests * duration * a.INGEST_MEMORY_MIB / 1024
        lines += [
            CostLine(
                service="Lambda",
                item="ingest requests",
                usd_per_month=requests / _MILLION * rates.requests_per_million,
                basis=f"{_n(requests)} requests of {per_request} events",
            ),
            CostLine(
                service="Lambda",
                item="ingest duration",
                usd_per_month=ingest_gb_seconds * gb_second,
                basis=f"{_n(ingest_gb_seconds)} GB-s ({duration * 1000:,.0f} ms x {a.INGEST_MEMORY_MIB} MB: "
                f"{calls} SendMessageBatch calls)",
            ),
        ]
    return lines


def _sqs(
    workload: Workload, *, events: float, sizes: EventSizes, consumer: ConsumerPlan, prices: PriceSheet
) -> list[CostLine]:
    per_million = prices.sqs.fifo_requests_per_million if workload.fifo else prices.sqs.standard_requests_per_million
    kind = "FIFO" if workload.fifo else "standard"
    received_per_call = min(float(a.SQS_MAX_BATCH_ENTRIES), consumer.batch_at_steady)
    chunks = f"each 64 KiB of {sizes.body:,}-byte bodies billed as one"
    requests = {
        "sends": (
            sqs_billed_requests(messages=events, per_call=a.SQS_MAX_BATCH_ENTRIES, body_bytes=sizes.body),
            f"SendMessageBatch of {a.SQS_MAX_BATCH_ENTRIES} (as sluice push and the ingest function send), {chunks}",
        ),
        "receives": (
            sqs_billed_requests(messages=events, per_call=received_per_call, body_bytes=sizes.body),
            f"ReceiveMessage of {received_per_call:.0f} by the event source, {chunks}",
        ),
        "deletes": (events / received_per_call, f"DeleteMessageBatch of {received_per_call:.0f}"),
        "empty polls": (
            a.STANDARD_POLLERS * a.MONTH_SECONDS / _LONG_POLL_S,
            f"{a.STANDARD_POLLERS} pollers long-polling {_LONG_POLL_S} s while the queue is empty (upper bound)",
        ),
    }
    return [
        CostLine(
            service="SQS",
            item=f"{kind} {name}",
            usd_per_month=count / _MILLION * per_million,
            basis=f"{_n(count)} requests: {basis}",
        )
        for name, (count, basis) in requests.items()
    ]


def _rds(workload: Workload, *, database: DatabasePlan, hours: float, prices: PriceSheet) -> list[CostLine]:
    rds = prices.rds
    deployment = "Multi-AZ" if workload.multi_az else "single-AZ"
    factor = rds.multi_az_factor if workload.multi_az else 1.0
    hourly = rds.instance_hour[database.instance_type]  # the plan only chooses priced classes
    stored_gib = min(
        a.RDS_MAX_STORAGE_GIB,
        max(database.allocated_storage_gib, database.growth_gib_per_month * workload.storage_months),
    )
    growth_usd = database.growth_gib_per_month * rds.gp3_gb_month * factor
    proxy_vcpus = max(database.vcpus, rds.proxy_minimum_vcpus)
    months = "1 month" if workload.storage_months == 1 else f"{workload.storage_months} months"
    return [
        CostLine(
            service="RDS",
            item=f"db.{database.instance_type} ({deployment})",
            usd_per_month=hourly * hours * factor,
            basis=f"${hourly:g}/hour x {hours:g} hours x {factor:g}",
        ),
        CostLine(
            service="RDS",
            item=f"gp3 storage ({deployment})",
            usd_per_month=stored_gib * rds.gp3_gb_month * factor,
            basis=f"{stored_gib:,.0f} GB after {months} x ${rds.gp3_gb_month:g} x {factor:g}; "
            f"+${growth_usd:,.2f} for each further month (the table only grows)",
        ),
        CostLine(
            service="RDS Proxy",
            item="proxy",
            usd_per_month=proxy_vcpus * rds.proxy_vcpu_hour * hours,
            basis=f"{proxy_vcpus} vCPUs of the instance (minimum {rds.proxy_minimum_vcpus}) x "
            f"${rds.proxy_vcpu_hour:g}/vCPU-hour",
        ),
    ]


def _network(
    workload: Workload, *, events: float, sizes: EventSizes, hours: float, prices: PriceSheet
) -> list[CostLine]:
    vpc = prices.vpc
    if workload.network is Network.NAT:
        way_out = CostLine(
            service="VPC",
            item="NAT gateways",
            usd_per_month=workload.nat_gateways * vpc.nat_gateway_hour * hours,
            basis=f"{workload.nat_gateways} x ${vpc.nat_gateway_hour:g}/hour; per-GB processing negligible "
            "(only dead letters and secret reads leave the VPC)",
        )
    else:
        services = a.STACK_ENDPOINT_SERVICES + (1 if workload.tracing else 0)
        endpoints = services * a.STACK_AVAILABILITY_ZONES
        names = "SQS, Secrets Manager and X-Ray" if workload.tracing else "SQS and Secrets Manager"
        way_out = CostLine(
            service="VPC",
            item="interface endpoints",
            usd_per_month=endpoints * vpc.interface_endpoint_hour * hours,
            basis=f"{names} in {a.STACK_AVAILABILITY_ZONES} AZs: {endpoints} x ${vpc.interface_endpoint_hour:g}/hour; "
            "per-GB negligible (the event source polls SQS from outside the VPC)",
        )
    crossing_gb = events * sizes.body / _GB
    return [
        way_out,
        CostLine(
            service="VPC",
            item="cross-AZ data",
            usd_per_month=crossing_gb * vpc.cross_az_gb,
            basis=f"{_n(crossing_gb)} GB: half of each event's bytes cross an AZ on each of 2 hops "
            f"(consumer -> proxy -> instance, 2 AZs) x ${vpc.cross_az_gb:g}/GB",
        ),
    ]


def _xray(workload: Workload, *, events: float, consumer: ConsumerPlan, prices: PriceSheet) -> list[CostLine]:
    if not workload.tracing:
        return []
    traces = events / consumer.batch_at_steady
    if workload.ingest_events_per_request:
        traces += events / workload.ingest_events_per_request
    return [
        CostLine(
            service="X-Ray",
            item="traces recorded",
            usd_per_month=traces / _MILLION * prices.xray.traces_recorded_per_million,
            basis=f"{_n(traces)} traces: one per invocation (active tracing, --no-tracing to leave it off)",
        )
    ]


def _cloudwatch(workload: Workload, *, events: float, consumer: ConsumerPlan, prices: PriceSheet) -> list[CostLine]:
    cw = prices.cloudwatch
    invocations = events / consumer.batch_at_steady
    ingest_requests = events / workload.ingest_events_per_request if workload.ingest_events_per_request else 0.0
    log_gb = (
        invocations * a.LOG_BYTES_PER_CONSUMER_INVOCATION + ingest_requests * a.LOG_BYTES_PER_INGEST_INVOCATION
    ) / _GB
    stored_gb = log_gb * workload.log_retention_days / _DAYS_PER_MONTH
    return [
        CostLine(
            service="CloudWatch",
            item="alarms, dashboard, metrics",
            usd_per_month=a.STACK_ALARMS * cw.alarm_month
            + a.STACK_DASHBOARDS * cw.dashboard_month
            + a.STACK_CUSTOM_METRICS * cw.custom_metric_month,
            basis=f"{a.STACK_ALARMS} alarms, {a.STACK_DASHBOARDS} dashboard, {a.STACK_CUSTOM_METRICS} EMF metrics",
        ),
        CostLine(
            service="CloudWatch",
            item="logs ingested",
            usd_per_month=log_gb * cw.logs_ingested_gb,
            basis=f"{log_gb:,.2f} GB: ~{a.LOG_BYTES_PER_CONSUMER_INVOCATION:,} bytes per consumer invocation",
        ),
        CostLine(
            service="CloudWatch",
            item="logs stored",
            usd_per_month=stored_gb * cw.logs_stored_gb_month,
            basis=f"{stored_gb:,.2f} GB kept {workload.log_retention_days} days (uncompressed: an upper bound)",
        ),
    ]
