"""Every figure ``sluice plan`` uses that is not the user's input: AWS limits, and Sluice's own modelling choices.

AWS limits are AWS's documented figures. Modelling choices are ours: each says where it comes from (measured on
the machine that ships the write-path figures, or chosen, and why). :data:`ASSUMPTIONS` lists them for
``sluice plan --json`` and the documentation; the arithmetic reads the constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sluice_shared.contract import MAX_BODY_BYTES
from sluice_shared.limits import (
    LAMBDA_MAX_TIMEOUT_SECONDS,
    LAMBDA_SYNC_PAYLOAD_BYTES,
    SQS_MAX_BATCH_ENTRIES,
    SQS_MAX_BATCH_SIZE_FIFO,
    SQS_MAX_BATCH_SIZE_STANDARD,
    SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW,
    SQS_MAX_BATCHING_WINDOW_SECONDS,
)
from sluice_shared.topology import VISIBILITY_TIMEOUT_FACTOR

__all__ = [
    "ASSUMPTIONS",
    "CATCH_UP_FACTOR",
    "CLIENT_ALARM_PERCENT",
    "CONNECT_TIMEOUT_S",
    "DB_TARGET_UTILISATION",
    "DEADLINE_MARGIN_S",
    "DELIVERY_ALLOWANCE_S",
    "DUPLICATE_FALLBACK_FACTOR",
    "ENVELOPE_BYTES",
    "ESM_SCALE_UP_PER_MINUTE",
    "FIFO_QUEUE_EVENTS_PER_S",
    "FULL_VCPU_MIB",
    "GP3_BASELINE_MIB_S",
    "GP3_STRIPED_MIB_S",
    "GP3_STRIPED_MIN_GIB",
    "IAM_NEW_CONNECTIONS_PER_S",
    "INGEST_MEMORY_MIB",
    "INGEST_REQUEST_OVERHEAD_S",
    "JSONB_FACTOR",
    "LAMBDA_MAX_TIMEOUT_SECONDS",
    "LAMBDA_RUNTIME_MIB",
    "LAMBDA_SYNC_PAYLOAD_BYTES",
    "LOG_BYTES_PER_CONSUMER_INVOCATION",
    "LOG_BYTES_PER_INGEST_INVOCATION",
    "MAX_BODY_BYTES",
    "MEMORY_CANDIDATES_MIB",
    "MIN_STORAGE_GIB",
    "MONTH_SECONDS",
    "NETWORK_BYTES_PER_S",
    "NO_WINDOW_GATHER_S",
    "OS_RESERVED_MIB",
    "PREFERRED_BATCH_SIZE",
    "PRIMARY_KEY_BYTES",
    "PROXY_BORROW_TIMEOUT_S",
    "PROXY_MAX_CONNECTIONS_PERCENT",
    "PROXY_ROUND_TRIP_S",
    "PYTHON_BYTES_FACTOR",
    "RDS_MAX_STORAGE_GIB",
    "RESERVED_CONNECTIONS",
    "ROUND_TRIPS_PER_BATCH",
    "ROW_OVERHEAD_BYTES",
    "SQS_API_CALL_S",
    "SQS_BILLING_CHUNK_BYTES",
    "SQS_MAX_BATCHING_WINDOW_SECONDS",
    "SQS_MAX_BATCH_ENTRIES",
    "SQS_MAX_BATCH_SIZE_FIFO",
    "SQS_MAX_BATCH_SIZE_STANDARD",
    "SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW",
    "SQS_RECORD_OVERHEAD_BYTES",
    "STACK_ALARMS",
    "STACK_AVAILABILITY_ZONES",
    "STACK_CUSTOM_METRICS",
    "STACK_DASHBOARDS",
    "STACK_ENDPOINT_SERVICES",
    "STANDARD_POLLERS",
    "STORAGE_HORIZON_MONTHS",
    "TIMEOUT_FLOOR_S",
    "TIMEOUT_SAFETY",
    "TOAST_THRESHOLD_BYTES",
    "TOAST_WORK_FACTOR",
    "VISIBILITY_TIMEOUT_FACTOR",
    "WORK_FIXED_BYTES",
    "WRITE_AMPLIFICATION",
    "Assumption",
]

MONTH_SECONDS: Final = 730 * 3600  # AWS prices a month as 730 hours

# --- AWS limits and documented behaviour ---
# The limits the code itself enforces (payload, batch sizes, batching window, timeout) come from sluice_shared.limits,
# imported above; these are the ones only the plan reasons with.
# "At 1,769 MB, a function has the equivalent of one vCPU" (Lambda developer guide, memory and computing power).
FULL_VCPU_MIB: Final = 1_769
# SQS bills each 64 KiB chunk of a request's payload as one request (SQS pricing).
SQS_BILLING_CHUNK_BYTES: Final = 64 * 1024
# A FIFO queue without high-throughput mode (the stack does not enable it): 300 API calls/s per action, so 3,000
# messages/s with batches of 10 (SQS developer guide, FIFO quotas).
FIFO_QUEUE_EVENTS_PER_S: Final = 3_000
# An SQS event source scales out by at most 300 concurrent invocations per minute (Lambda developer guide).
ESM_SCALE_UP_PER_MINUTE: Final = 300
# "We recommend IAM authentication when your application creates fewer than 200 new connections per second"
# (RDS user guide, IAM database authentication).
IAM_NEW_CONNECTIONS_PER_S: Final = 200
# RDS for PostgreSQL storage: 64 TiB at most; gp3 20 GiB minimum; gp3 baseline 125 MiB/s (3,000 IOPS), and
# 500 MiB/s (12,000 IOPS) from 400 GiB, where RDS stripes the volume (RDS user guide, gp3 storage).
RDS_MAX_STORAGE_GIB: Final = 65_536
MIN_STORAGE_GIB: Final = 20
GP3_BASELINE_MIB_S: Final = 125
GP3_STRIPED_MIB_S: Final = 500
GP3_STRIPED_MIN_GIB: Final = 400

# --- the stack's own settings the plan reasons with (cdk/src/sluice_cdk) ---
PROXY_BORROW_TIMEOUT_S: Final = 30  # RDS Proxy's borrow timeout in the stack
CONNECT_TIMEOUT_S: Final = 5  # SLUICE_DB_CONNECT_TIMEOUT_S default
DEADLINE_MARGIN_S: Final = 3  # SLUICE_BATCH_DEADLINE_MARGIN_MS default
PROXY_MAX_CONNECTIONS_PERCENT: Final = 90  # the stages' proxy share of max_connections
RESERVED_CONNECTIONS: Final = 10  # prod's reserve: migrations (1) + operators
# The stack's alarm on client connections fires at this share of consumers + reserved (AlarmThresholds); it
# refuses a budget whose threshold is not above the reserved connections.
CLIENT_ALARM_PERCENT: Final = 80
INGEST_MEMORY_MIB: Final = 256  # the stack's ingest function memory
# CloudWatch bill items the stack creates: its alarms (sluice_cdk.monitoring.ALARMS), its dashboard, and the EMF
# metrics the functions emit (consumer: 7, ingest: 3, each with one dimension set).
STACK_ALARMS: Final = 8
STACK_DASHBOARDS: Final = 1
STACK_CUSTOM_METRICS: Final = 10
# Endpoint mode: interface endpoints for SQS and Secrets Manager, and X-Ray when tracing is on, each in 2 AZs.
STACK_ENDPOINT_SERVICES: Final = 2
STACK_AVAILABILITY_ZONES: Final = 2

# --- Sluice's modelling choices ---
# A body's envelope (event_id, event_type, source, occurred_at, schema_version) around the payload: 184 bytes
# for a typical one, rounded up.
ENVELOPE_BYTES: Final = 200
# What one SQS record adds to the Lambda event around its body (ids, a receipt handle of a few hundred bytes,
# attributes, ARN): AWS's sample record carries ~600 bytes with a 37-character receipt handle.
SQS_RECORD_OVERHEAD_BYTES: Final = 1_024
# Batches of 1,000: the write path is at plain-COPY speed there (1.05x in `make bench`), the idempotent fallback
# writes 1,000 rows per statement, and a transient failure retries at most 1,000 events. Larger batches gain
# little (1.2x at 10,000) and cost a larger retry.
PREFERRED_BATCH_SIZE: Final = 1_000
# A standard-queue event source starts with 5 pollers; each gathers its own batch, so at rate R a poller sees
# R / 5 events/s while its batching window is open (Lambda developer guide, SQS scaling).
STANDARD_POLLERS: Final = 5
# Without a batching window a batch is what one ReceiveMessage returns: what arrived on that poller in about
# this long (a long poll returns as soon as a message is there), at most 10.
NO_WINDOW_GATHER_S: Final = 0.1
# From a message arriving in the queue to its batch starting: long polling and the invocation itself.
DELIVERY_ALLOWANCE_S: Final = 1.0
# Memory sizes the plan chooses from: 512 MB keeps the cold start (imports ~0.4 s at a full vCPU) near a
# second; 1,769 MB is one full vCPU, above which the single-threaded consumer gets no faster.
MEMORY_CANDIDATES_MIB: Final = (512, 1_024, FULL_VCPU_MIB)
LAMBDA_RUNTIME_MIB: Final = 160  # Python, Powertools, pydantic, psycopg loaded
PYTHON_BYTES_FACTOR: Final = 8  # a batch held as event dicts, models and rows: ~8x its JSON size
# Function -> RDS Proxy -> instance, in one region: a round trip, and the round trips per batch (pool health
# check, COPY start, COPY end); the batch's rows cross the network at this rate.
PROXY_ROUND_TRIP_S: Final = 0.002
ROUND_TRIPS_PER_BATCH: Final = 3
NETWORK_BYTES_PER_S: Final = 75_000_000  # 600 Mbit/s
# The idempotent fallback (a redelivered event in the batch) writes at ~40 % of the fresh-batch speed.
DUPLICATE_FALLBACK_FACTOR: Final = 2.5
TIMEOUT_FLOOR_S: Final = 60
TIMEOUT_SAFETY: Final = 3  # the timeout covers 3x the slowest expected batch
# Measured here with 1,000-row COPY batches of JSON payloads of 150 to 1,000 bytes (PostgreSQL 15): a stored row
# is ~200 bytes (header, the other columns, the content digest, its primary key entry) plus 1.2x the payload's JSON
# text (jsonb is 1.08-1.13x the text, and heap pages hold whole rows, so part of each page stays empty).
ROW_OVERHEAD_BYTES: Final = 200
JSONB_FACTOR: Final = 1.2
PRIMARY_KEY_BYTES: Final = 42  # of which the primary key index, with time-ordered ids (measured: 41-46)
# Rows above ~2 KB are compressed or moved out of line by TOAST: measured 1.6x the per-row work of the linear
# model below, for the consumer and for the database alike.
TOAST_THRESHOLD_BYTES: Final = 2_032
TOAST_WORK_FACTOR: Final = 1.6
# Per-event work grows with the payload as (WORK_FIXED_BYTES + payload): fitted on this machine from the same
# runs (COPY: 1,170; handler: 1,520).
WORK_FIXED_BYTES: Final = 1_300
# Bytes written to storage per stored byte: WAL (measured 1.0-1.3x the row) plus heap and index pages at
# checkpoints, with room for full-page images.
WRITE_AMPLIFICATION: Final = 2.5
# Plan the database for 50 % CPU and storage bandwidth at peak: autovacuum, checkpoints, backups, Multi-AZ
# replication and catching up after an outage need the rest.
DB_TARGET_UTILISATION: Final = 0.5
# Consumers sized for twice the peak: after an outage, the backlog drains as fast as it built up.
CATCH_UP_FACTOR: Final = 2
# RDS keeps memory for the OS and its own processes: a t4g.micro's real default max_connections is ~87 of the
# 112 its nominal 1 GiB gives. The plan pins RDS's formula on the nominal memory less this.
OS_RESERVED_MIB: Final = 256
# Storage autoscaling ceiling: room for this many months of growth.
STORAGE_HORIZON_MONTHS: Final = 12
# CloudWatch Logs per invocation: Lambda's START/END/REPORT lines, the consumer's "batch consumed" line and its
# EMF metrics document; the ingest function's request line and metrics.
LOG_BYTES_PER_CONSUMER_INVOCATION: Final = 2_000
LOG_BYTES_PER_INGEST_INVOCATION: Final = 1_500
# The ingest function: fixed work per request, one SendMessageBatch call per 10 events (sequential).
INGEST_REQUEST_OVERHEAD_S: Final = 0.005
SQS_API_CALL_S: Final = 0.010


@dataclass(frozen=True, slots=True)
class Assumption:
    """One figure the plan relies on, with its unit and where it comes from."""

    name: str
    value: float
    unit: str
    source: str


_AWS = "AWS documentation"
_MEASURED = "measured on the machine that produced the shipped write-path figures"
_CHOSEN = "Sluice's choice"

ASSUMPTIONS: Final = (
    Assumption("SQS event source batch size, standard queue", SQS_MAX_BATCH_SIZE_STANDARD, "events", _AWS),
    Assumption("SQS event source batch size, FIFO queue", SQS_MAX_BATCH_SIZE_FIFO, "events", _AWS),
    Assumption("batch size without a batching window", SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW, "events", _AWS),
    Assumption("batching window (none on FIFO)", SQS_MAX_BATCHING_WINDOW_SECONDS, "s at most", _AWS),
    Assumption("visibility timeout", VISIBILITY_TIMEOUT_FACTOR, "x function timeout, at least", _AWS),
    Assumption("function timeout", LAMBDA_MAX_TIMEOUT_SECONDS, "s at most", _AWS),
    Assumption("invocation payload (one batch)", LAMBDA_SYNC_PAYLOAD_BYTES, "bytes at most", _AWS),
    Assumption("memory for one full vCPU", FULL_VCPU_MIB, "MB", _AWS),
    Assumption("SQS request billing chunk", SQS_BILLING_CHUNK_BYTES, "bytes", _AWS),
    Assumption("FIFO queue without high throughput", FIFO_QUEUE_EVENTS_PER_S, "events/s (batches of 10)", _AWS),
    Assumption("event source scale-out", ESM_SCALE_UP_PER_MINUTE, "environments/minute at most", _AWS),
    Assumption("IAM database authentication guidance", IAM_NEW_CONNECTIONS_PER_S, "new connections/s below", _AWS),
    Assumption("RDS storage", RDS_MAX_STORAGE_GIB, "GiB at most", _AWS),
    Assumption("gp3 baseline throughput below 400 GiB", GP3_BASELINE_MIB_S, "MiB/s", _AWS),
    Assumption("gp3 baseline throughput from 400 GiB", GP3_STRIPED_MIB_S, "MiB/s", _AWS),
    Assumption("event envelope around the payload", ENVELOPE_BYTES, "bytes", _CHOSEN + " (184 measured)"),
    Assumption("SQS record overhead in the Lambda event", SQS_RECORD_OVERHEAD_BYTES, "bytes", _CHOSEN),
    Assumption("preferred batch size", PREFERRED_BATCH_SIZE, "events", _CHOSEN + " (write path at COPY speed)"),
    Assumption("pollers of a standard-queue event source", STANDARD_POLLERS, "pollers", _AWS + " (initial)"),
    Assumption("gathering time of a batch without window", NO_WINDOW_GATHER_S, "s", _CHOSEN),
    Assumption("queue to batch start", DELIVERY_ALLOWANCE_S, "s", _CHOSEN),
    Assumption("function -> RDS Proxy round trip", PROXY_ROUND_TRIP_S, "s", _CHOSEN),
    Assumption("round trips per batch", ROUND_TRIPS_PER_BATCH, "round trips", "the write path's protocol"),
    Assumption("function -> RDS Proxy bandwidth", NETWORK_BYTES_PER_S, "bytes/s", _CHOSEN),
    Assumption("idempotent fallback slowdown", DUPLICATE_FALLBACK_FACTOR, "x", "`make bench` (sluice+dup)"),
    Assumption("stored row overhead (index included)", ROW_OVERHEAD_BYTES, "bytes", _MEASURED),
    Assumption("primary key index per row (time-ordered ids)", PRIMARY_KEY_BYTES, "bytes", _MEASURED),
    Assumption("stored bytes per payload byte (jsonb, page fill)", JSONB_FACTOR, "x", _MEASURED),
    Assumption("TOAST threshold", TOAST_THRESHOLD_BYTES, "bytes per row", "PostgreSQL (TOAST_TUPLE_THRESHOLD)"),
    Assumption("TOAST work factor", TOAST_WORK_FACTOR, "x", _MEASURED),
    Assumption("per-event work, fixed part", WORK_FIXED_BYTES, "payload-byte equivalents", _MEASURED),
    Assumption("storage writes per stored byte", WRITE_AMPLIFICATION, "x", _MEASURED + " (WAL 1.0-1.3x) + pages"),
    Assumption("database utilisation at peak", DB_TARGET_UTILISATION, "of capacity", _CHOSEN),
    Assumption("consumer capacity / peak", CATCH_UP_FACTOR, "x", _CHOSEN + " (drain a backlog while keeping up)"),
    Assumption("memory RDS keeps from max_connections", OS_RESERVED_MIB, "MiB", _CHOSEN + " (t4g.micro: ~87)"),
    Assumption("CloudWatch Logs per consumer invocation", LOG_BYTES_PER_CONSUMER_INVOCATION, "bytes", _CHOSEN),
    Assumption("database vCPU speed", 1, "x one core of the measuring machine", _CHOSEN),
    Assumption("Lambda vCPU speed", 1, "x one core of the measuring machine", _CHOSEN),
)
