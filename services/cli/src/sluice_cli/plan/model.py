"""The plan's typed inputs and outputs: the workload, the measured write path, the price sheet, the plan itself.

The two input files are pydantic models (:class:`WritePathResult` is the format ``make bench`` writes,
:class:`PriceSheet` one region of a price table); everything the arithmetic produces is a frozen dataclass.
Nothing here reads a file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from sluice_cli.plan.assumptions import ENVELOPE_BYTES, MAX_BODY_BYTES
from sluice_cli.plan.choices import Architecture, Network
from sluice_shared.capacity import instance_class
from sluice_shared.errors import ConfigurationError
from sluice_shared.plan_context import LOG_RETENTION_DAYS

if TYPE_CHECKING:
    from sluice_shared.plan_context import PlanContext

__all__ = [
    "BENCH_FORMAT",
    "CloudWatchPrices",
    "ConsumerPlan",
    "CostLine",
    "DatabasePlan",
    "EventSizes",
    "HandlerFigure",
    "LambdaPrices",
    "Plan",
    "PriceSheet",
    "RdsPrices",
    "SecretsManagerPrices",
    "Setting",
    "SqsPrices",
    "Throughput",
    "VpcPrices",
    "Workload",
    "WriteFigure",
    "WritePathResult",
    "XRayPrices",
]

BENCH_FORMAT: Final = "sluice-bench-write-path/1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """What the user asks for: rates, sizes, the latency target, where, and any setting they pin themselves."""

    rate_per_s: float
    peak_rate_per_s: float
    payload_bytes: int
    max_latency_s: float = 30.0
    fifo: bool = False
    groups: int | None = None  # distinct MessageGroupIds in flight (FIFO)
    region: str = "us-east-1"
    architecture: Architecture = Architecture.ARM64
    stage: str = "prod"
    multi_az: bool = True
    network: Network = Network.ENDPOINTS
    nat_gateways: int = 2
    log_retention_days: int = 30
    tracing: bool = True  # X-Ray active tracing, as prod has it
    storage_months: int = 1  # the storage line prices the events table as it stands after this many months
    ingest_events_per_request: int = 0  # 0: producers send to SQS themselves; else through the ingest function
    batch_size: int | None = None
    batching_window_s: int | None = None
    memory_mib: int | None = None
    instance_type: str | None = None

    def validate(self) -> Workload:
        """Return ``self`` when every input makes sense.

        Raises:
            ConfigurationError: naming each bad input.
        """
        problems = [*self._rate_problems(), *self._deployment_problems()]
        if problems:
            raise ConfigurationError("cannot plan: " + "; ".join(problems))
        return self

    def _rate_problems(self) -> list[str]:
        problems: list[str] = []
        if not math.isfinite(self.rate_per_s):
            problems.append("--rate must be a finite number")
        elif not self.rate_per_s > 0:
            problems.append("--rate must be above 0 events/s")
        if not math.isfinite(self.peak_rate_per_s):
            problems.append("--peak-rate must be a finite number")
        elif self.peak_rate_per_s < self.rate_per_s:
            problems.append(f"--peak-rate {self.peak_rate_per_s:g} is below --rate {self.rate_per_s:g}")
        if not 2 <= self.payload_bytes <= MAX_BODY_BYTES - ENVELOPE_BYTES:  # noqa: PLR2004 - "{}" is 2 bytes
            problems.append(
                f"--payload-bytes must be 2..{MAX_BODY_BYTES - ENVELOPE_BYTES:,} (an SQS body of at most "
                f"{MAX_BODY_BYTES:,} bytes with the envelope)"
            )
        if not math.isfinite(self.max_latency_s):
            problems.append("--max-latency must be a finite number")
        elif not self.max_latency_s > 0:
            problems.append("--max-latency must be above 0 s")
        if self.fifo and (self.groups is None or self.groups < 1):
            problems.append("--fifo needs --groups N: the number of distinct message group ids in flight")
        if not self.fifo and self.groups is not None:
            problems.append("--groups only applies to --fifo queues")
        return problems

    def _deployment_problems(self) -> list[str]:
        problems: list[str] = []
        if self.network is Network.NAT and not 1 <= self.nat_gateways <= 2:  # noqa: PLR2004 - one per AZ at most
            problems.append("--nat-gateways must be 1 or 2 (one per availability zone)")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            problems.append(f"--log-retention-days must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        if self.memory_mib is not None and not 128 <= self.memory_mib <= 10_240:  # noqa: PLR2004 - Lambda's range
            problems.append("--memory must be 128..10,240 MB (Lambda)")
        if not self.stage:
            problems.append("--stage must name a stage of the stack (dev, prod)")
        if self.storage_months < 1:
            problems.append("--months must be at least 1")
        if self.ingest_events_per_request < 0:
            problems.append("--ingest-batch must be 0 (producers send to SQS) or more")
        if self.instance_type is not None:
            try:
                instance_class(self.instance_type)
            except ConfigurationError as exc:
                problems.append(str(exc))
        return problems


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WriteFigure(_File):
    """rows/s of each write strategy at one batch size (``sluice`` is what the consumer does)."""

    batch: int = Field(ge=1)
    rows_per_s: dict[str, float]


class HandlerFigure(_File):
    """messages/s through the whole consumer handler (parse, validate, write) at one batch size."""

    batch: int = Field(ge=1)
    messages_per_s: float = Field(gt=0)


class WritePathResult(_File):
    """What ``tests/benchmarks/bench_write_path.py`` writes (format ``sluice-bench-write-path/1``).

    ``machine`` says where it was measured (CPU count and model, platform, PostgreSQL and psycopg versions, the
    server, the load average), ``measured_at`` when; ``payload_bytes`` is the size of the JSON payload of every
    row written. ``origin`` is not in the file: the loader records which file (or the shipped one) it read.
    """

    format: Literal["sluice-bench-write-path/1"]
    measured_at: datetime
    machine: dict[str, Any]
    payload_bytes: int = Field(ge=2)
    write_path: list[WriteFigure] = Field(min_length=1)
    handler: list[HandlerFigure] = Field(min_length=1)
    origin: str = Field(default="", exclude=True)

    def sluice_rows_per_s(self) -> list[tuple[int, float]]:
        """(batch, rows/s) of the consumer's write path, by batch size.

        Raises:
            ConfigurationError: the file has no ``sluice`` figure.
        """
        figures = sorted((row.batch, row.rows_per_s["sluice"]) for row in self.write_path if "sluice" in row.rows_per_s)
        if not figures:
            raise ConfigurationError(f"{self.origin or 'write-path result'}: no 'sluice' rows/s figure")
        return figures


class _Prices(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LambdaPrices(_Prices):
    """Requests and GB-seconds (by architecture)."""

    requests_per_million: float = Field(ge=0)
    gb_second: dict[str, float]


class SqsPrices(_Prices):
    """Requests, each 64 KiB chunk of payload counted as one."""

    standard_requests_per_million: float = Field(ge=0)
    fifo_requests_per_million: float = Field(ge=0)


class RdsPrices(_Prices):
    """On-demand single-AZ instance hours (PostgreSQL), gp3 storage, RDS Proxy per vCPU of the instance."""

    instance_hour: dict[str, float]
    multi_az_factor: float = Field(ge=1)
    gp3_gb_month: float = Field(ge=0)
    proxy_vcpu_hour: float = Field(ge=0)
    proxy_minimum_vcpus: int = Field(ge=0)


class VpcPrices(_Prices):
    """NAT gateways, interface endpoints (per AZ), and data crossing availability zones (both directions)."""

    nat_gateway_hour: float = Field(ge=0)
    nat_gateway_gb: float = Field(ge=0)
    interface_endpoint_hour: float = Field(ge=0)
    interface_endpoint_gb: float = Field(ge=0)
    cross_az_gb: float = Field(ge=0)


class CloudWatchPrices(_Prices):
    """Alarms, dashboards, custom metrics, log ingestion and storage."""

    alarm_month: float = Field(ge=0)
    dashboard_month: float = Field(ge=0)
    custom_metric_month: float = Field(ge=0)
    logs_ingested_gb: float = Field(ge=0)
    logs_stored_gb_month: float = Field(ge=0)


class XRayPrices(_Prices):
    """Traces recorded."""

    traces_recorded_per_million: float = Field(ge=0)


class SecretsManagerPrices(_Prices):
    """Secrets stored."""

    secret_month: float = Field(ge=0)


class PriceSheet(_Prices):
    """One region's prices, with where they come from (``source``, ``as_of``)."""

    region: str
    currency: str
    as_of: str
    source: str
    hours_per_month: float = Field(gt=0)
    lambda_: LambdaPrices = Field(alias="lambda")
    sqs: SqsPrices
    rds: RdsPrices
    vpc: VpcPrices
    cloudwatch: CloudWatchPrices
    secrets_manager: SecretsManagerPrices
    xray: XRayPrices


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One planned value and the one line of reasoning behind it."""

    name: str
    value: int | float | str
    unit: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSizes:
    """One event on the wire, in the Lambda event and in the table."""

    payload: int
    body: int  # the SQS message body: envelope + payload
    record: int  # the body inside a Lambda event record
    stored: int  # a row of ``events``, primary key index included
    toasted: bool  # the row is large enough for TOAST to compress it or move it out of line


@dataclass(frozen=True, slots=True, kw_only=True)
class Throughput:
    """The per-instance throughput the plan assumes, and where the figures come from."""

    origin: str
    measured_at: str
    machine: str
    measured_payload_bytes: int
    handler_events_per_s: float  # the measured handler rate the per-event time comes from
    work_factor: float  # per-event work at this payload / at the measured payload
    event_seconds: float  # per event in one environment at the planned memory
    batch_seconds: float  # one full batch in one environment at the planned memory
    environment_events_per_s: float
    database_rows_per_vcpu_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerPlan:
    """The event source and the consumer function."""

    batch_size: int
    batching_window_s: int
    memory_mib: int
    timeout_s: int
    max_concurrency: int
    visibility_timeout_s: int
    batch_at_steady: float  # events per invocation on average at the steady rate
    batch_at_peak: float
    busy_environments_at_peak: float
    latency_s: float  # worst enqueue -> committed row at the steady rate, nothing failing
    settings: tuple[Setting, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabasePlan:
    """The instance behind RDS Proxy, its connection budget and its storage."""

    instance_type: str
    vcpus: int
    max_connections: int
    proxy_connections: int
    reserved_connections: int
    connections_used: int
    budget_share: float
    write_capacity_rows_s: float
    rows_per_vcpu_s: float  # the measured write path, scaled to the payload: one vCPU's share
    peak_utilisation: float
    storage_write_bytes_s: float
    growth_gib_per_month: float
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    months_to_storage_limit: float | None
    settings: tuple[Setting, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CostLine:
    """One line of the monthly estimate: what is billed, how much, and how it was counted."""

    service: str
    item: str
    usd_per_month: float
    basis: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Everything ``sluice plan`` prints, in one value."""

    workload: Workload
    sizes: EventSizes
    consumer: ConsumerPlan
    database: DatabasePlan
    throughput: Throughput
    costs: tuple[CostLine, ...]
    warnings: tuple[str, ...]
    prices: PriceSheet
    context: PlanContext

    @property
    def total_usd_per_month(self) -> float:
        """The sum of the cost lines."""
        return sum(line.usd_per_month for line in self.costs)
