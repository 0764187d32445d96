"""``sluice local demo``: push generated events through the running pipeline and account for every one.

Events go through the HTTP ingest endpoint in requests of many events, from a few concurrent clients, while
the consumer drains the queue (moto slows down with a backlog, so sending pauses while more than
``max_backlog`` messages wait: consume while producing). A few invalid messages go straight to the queue, as
a misbehaving producer bypassing ingest would, so the DLQ path shows. Once the queue and the batches in flight
are drained, the report reconciles: every event accepted at the door is stored exactly once or sits in the
DLQ with a reason; every event rejected at the door was refused with an answer.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from sluice_local.ingest_client import IngestClient, request_outcome
from sluice_local.repository import SELECT_STORED
from sluice_local.sink_reconcile import TableReconciliation, reconcile_catalog_tables
from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.sqs import BatchSender, OutgoingMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from sluice_local.batch_stats import EventSourceStats
    from sluice_shared.sqs import QueueDepth

__all__ = ["DemoPlan", "DemoReport", "PipelineView", "collect_dead_letters", "run_demo"]

BACKLOG_POLL_SECONDS: Final = 0.05
NO_REASON: Final = "redriven after maxReceiveCount (no reason attached)"
PERCENTILES: Final = (50, 90, 99)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoPlan:
    """How much to send and how: counts, ratios, request size, client concurrency and the backlog cap."""

    events: int = 3000
    invalid_ratio: float = 0.03
    duplicate_ratio: float = 0.05
    poison: int = 8
    request_size: int = 50
    senders: int = 2
    # moto recomputes every queue attribute, each O(messages in the queue), several times per message sent or
    # received: a 2,000-message backlog drained at ~13 msg/s against ~170 msg/s with at most ~100 queued
    # (measured against the moto server). At most this many messages are left in the queue (waiting or in flight).
    max_backlog: int = 100
    seed: int | None = 2026
    # Cancellations and payments sent ahead of the orders they name: retried until their order is in.
    references_first: int = 10
    # The sample catalog's sink tables are reconciled against the stored events (the demo's registry).
    sink_tables: bool = True
    # A message retried once waits a visibility timeout (31 s locally) before SQS delivers it again.
    drain_timeout_seconds: float = 180.0


class EventSourceView(Protocol):
    """The consumer's event source, for its counters."""

    @property
    def stats(self) -> EventSourceStats: ...


class PipelineView(Protocol):
    """What the demo needs from a running pipeline (:class:`~sluice_local.pipeline.LocalPipeline`)."""

    @property
    def ingest_url(self) -> str: ...

    @property
    def queue_url(self) -> str: ...

    @property
    def dlq_url(self) -> str: ...

    @property
    def database_url(self) -> str: ...

    @property
    def sqs(self) -> SQSClient: ...

    @property
    def event_source(self) -> EventSourceView: ...

    def wait_until_drained(self, timeout: float) -> QueueDepth: ...


@dataclass(slots=True)
class DemoReport:
    """What happened to every event sent, and whether it all adds up."""

    sent: int = 0
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    distinct_accepted: int = 0
    stored: int = 0
    poison_sent: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    handler_records: int = 0
    """Records the consumer handler was invoked with (poison and redeliveries included)."""
    handler_batches: int = 0
    handler_seconds: float = 0.0
    """Time spent inside the consumer handler, summed over its invocations."""
    handler_rate: float = 0.0
    """Records per second of consumer handler time once warm: the consumer's own speed in this run."""
    latencies_ms: list[float] = field(default_factory=list)
    sink_tables: list[TableReconciliation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def duplicates_skipped(self) -> int:
        """Accepted events whose ``event_id`` had already been accepted: stored once, not twice."""
        return self.accepted - self.distinct_accepted

    @property
    def in_dlq(self) -> int:
        """Messages found in the DLQ."""
        return sum(self.dead_letters.values())

    @property
    def throughput(self) -> float:
        """Events stored per second, from the first request to the drained queue (the local SQS sets the pace)."""
        return self.stored / self.seconds if self.seconds else 0.0

    def percentiles(self) -> dict[int, float]:
        """End-to-end latency percentiles in milliseconds (request sent -> row committed)."""
        if len(self.latencies_ms) < 2:  # noqa: PLR2004 - quantiles needs two points
            return dict.fromkeys(PERCENTILES, self.latencies_ms[0] if self.latencies_ms else 0.0)
        cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        return {p: cuts[p - 1] for p in PERCENTILES}

    @property
    def reconciled(self) -> bool:
        """True when every count adds up."""
        return not self.problems


def collect_dead_letters(client: SQSClient, dlq_url: str) -> list[tuple[str, DeadLetterReason | None]]:
    """Every message in the DLQ (each received once and left in place) with its reason, if it carries one."""
    found: list[tuple[str, DeadLetterReason | None]] = []
    while True:
        messages = client.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            # Long enough that no message comes round twice while the DLQ is read.
            VisibilityTimeout=120,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return found
        found.extend(
            (m.get("Body", ""), DeadLetterReason.from_attributes(m.get("MessageAttributes", {}))) for m in messages
        )


def run_demo(
    pipeline: PipelineView,
    plan: DemoPlan,
    *,
    events: Iterable[dict[str, Any]],
    poison: Sequence[str],
    on_progress: Callable[[int], None] | None = None,
) -> DemoReport:
    """Send ``events`` through ingest and ``poison`` straight to the queue, wait for the drain, reconcile.

    Raises:
        QueueUnavailableError: the ingest endpoint could not be reached.
        PipelineNotDrainedError: the queue did not drain within the plan's timeout.
    """
    from sluice_ingest.logic import EVENTS_PATH  # noqa: PLC0415 - ~190 ms of imports, only for a demo run

    run = _Run(pipeline, plan, on_progress, events_url=pipeline.ingest_url + EVENTS_PATH)
    batch = list(events)
    chunks = [batch[start : start + plan.request_size] for start in range(0, len(batch), plan.request_size)]
    started = time.monotonic()
    run.report.poison_sent = _send_poison(pipeline, poison)
    try:
        with ThreadPoolExecutor(max_workers=plan.senders, thread_name_prefix="sluice-demo") as pool:
            for future in [pool.submit(run.send, chunk) for chunk in chunks]:
                future.result()
    finally:
        run.close()
    pipeline.wait_until_drained(plan.drain_timeout_seconds)
    run.report.seconds = time.monotonic() - started
    stats = pipeline.event_source.stats
    run.report.handler_records, run.report.handler_batches = stats.records, stats.batches
    run.report.handler_seconds, run.report.handler_rate = stats.handler_seconds, stats.handler_rate
    _reconcile(run.report, pipeline, run.accepted_ids, run.sent_at)
    if plan.sink_tables:
        run.report.sink_tables = reconcile_catalog_tables(pipeline.database_url)
        for table in run.report.sink_tables:
            if not table.reconciled:
                detail = "; ".join(table.differences)
                run.report.problems.append(f"table {table.table}: {table.difference_count} rows off ({detail})")
    return run.report


class _Run:
    """The senders' shared state: counts, accepted ids, first send time per event id, one client per thread."""

    def __init__(
        self,
        pipeline: PipelineView,
        plan: DemoPlan,
        on_progress: Callable[[int], None] | None,
        *,
        events_url: str,
    ) -> None:
        self.pipeline = pipeline
        self.events_url = events_url
        self.report = DemoReport()
        self.accepted_ids: list[str] = []
        self.sent_at: dict[str, float] = {}
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._backlog_lock = threading.Lock()
        self._max_backlog = plan.max_backlog
        self._enqueued = 0
        self._reserved = 0
        self._local = threading.local()
        self._clients: list[IngestClient] = []

    def send(self, chunk: list[dict[str, Any]]) -> None:
        client = self._client()
        self._reserve(len(chunk))
        now = time.time()
        try:
            status, body = client.post(chunk)
        finally:
            with self._lock:
                self._reserved -= len(chunk)
        outcome = request_outcome(status, body, len(chunk))
        with self._lock:
            self.report.requests += 1
            self.report.sent += len(chunk)
            self.report.accepted += len(outcome.queued)
            self.report.rejected += len(outcome.rejected)
            self.report.failed += len(outcome.failed)
            self._enqueued += len(outcome.queued)
            for _, event_id in outcome.queued:
                self.accepted_ids.append(event_id)
                self.sent_at.setdefault(event_id, now)
        if self._on_progress is not None:
            self._on_progress(len(chunk))

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def _client(self) -> IngestClient:
        client: IngestClient | None = getattr(self._local, "client", None)
        if client is None:
            client = IngestClient(self.events_url)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _outstanding(self) -> int:
        """Messages sent or being sent and not yet deleted by the consumer (counted: no SQS call needed)."""
        deleted = self.pipeline.event_source.stats.deleted
        with self._lock:
            return self._enqueued + self._reserved + self.report.poison_sent - deleted

    def _reserve(self, count: int) -> None:
        # Consume while producing; counted, not asked of SQS (GetQueueAttributes itself costs O(depth) in moto).
        with self._backlog_lock:
            while (outstanding := self._outstanding()) > 0 and outstanding + count > self._max_backlog:
                time.sleep(BACKLOG_POLL_SECONDS)
            with self._lock:
                self._reserved += count


def _send_poison(pipeline: PipelineView, bodies: Sequence[str]) -> int:
    if not bodies:
        return 0
    sender = BatchSender(pipeline.queue_url, client=pipeline.sqs)
    outcomes = sender.send([OutgoingMessage(key=str(index), body=body) for index, body in enumerate(bodies)])
    return sum(1 for outcome in outcomes if outcome.ok)


def _reconcile(report: DemoReport, pipeline: PipelineView, accepted_ids: list[str], sent_at: dict[str, float]) -> None:
    import psycopg  # noqa: PLC0415 - only once the pipeline (and so psycopg) is loaded

    distinct = set(accepted_ids)
    report.distinct_accepted = len(distinct)
    with psycopg.connect(pipeline.database_url) as conn:
        stored: dict[str, datetime] = dict(conn.execute(SELECT_STORED, {"event_ids": sorted(distinct)}).fetchall())
    report.stored = len(stored)
    report.latencies_ms = [
        max(0.0, (received.timestamp() - sent_at[event_id]) * 1000) for event_id, received in stored.items()
    ]
    dead = collect_dead_letters(pipeline.sqs, pipeline.dlq_url)
    dead_ids: set[str] = set()
    for body, reason in dead:
        report.dead_letters[reason.error_code if reason else NO_REASON] += 1
        dead_ids.add(_event_id(body))
    missing = distinct - set(stored) - dead_ids
    if missing:
        report.problems.append(f"{len(missing)} accepted events are neither stored nor in the DLQ")
    if report.failed:
        report.problems.append(f"{report.failed} events could not be queued by ingest (see its log)")
    if report.sent != report.accepted + report.rejected + report.failed:
        report.problems.append(
            f"{report.sent} sent != {report.accepted} accepted + {report.rejected} rejected + {report.failed} failed"
        )
    expected_dead = report.poison_sent + len(distinct - set(stored))
    if report.in_dlq != expected_dead:
        report.problems.append(
            f"{report.in_dlq} messages in the DLQ, expected {expected_dead} "
            f"({report.poison_sent} poison + {len(distinct - set(stored))} accepted but not stored)"
        )


def _event_id(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("event_id", "")) if isinstance(data, dict) else ""
