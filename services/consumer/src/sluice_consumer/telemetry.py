"""One structured log line and one set of EMF metrics per batch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_lambda_powertools.metrics import MetricUnit

from sluice_consumer.logic import Disposition
from sluice_shared.errors import ConflictingDuplicateError
from sluice_shared.observability import build_metrics, publish_now

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.metrics import EphemeralMetrics

    from sluice_consumer.logic import BatchResult

__all__ = ["SERVICE", "record_batch", "record_sinks"]

SERVICE: Final = "sluice-consumer"
# Message ids of failed messages in the log line, at most this many (a 10,000-message batch could fail whole).
MAX_LOGGED_IDS: Final = 20

_METRICS: Final = (
    ("MessagesStored", Disposition.STORED),
    ("MessagesDuplicate", Disposition.DUPLICATE),
    ("MessagesDeadLettered", Disposition.DEAD_LETTERED),
    ("MessagesRetried", Disposition.RETRY),
)


def record_sinks(result: BatchResult, *, logger: Logger) -> dict[str, dict[str, int]]:
    """Publish the batch's sink rows per table and outcome (one EMF document per table, dimensioned by it).

    Returns the same counts for the batch log line: ``{table: {outcome: rows}}``.
    """
    by_table: dict[str, dict[str, int]] = {}
    for (table, outcome), rows in sorted(result.sink_counts.items()):
        if rows:
            by_table.setdefault(table, {})[outcome] = rows
    for table, counts in by_table.items():
        table_metrics = build_metrics(SERVICE)
        table_metrics.add_dimension(name="table", value=table)
        for outcome, rows in counts.items():
            table_metrics.add_metric(name=f"SinkRows{outcome.title()}", unit=MetricUnit.Count, value=rows)
        publish_now(table_metrics, logger=logger)
    return by_table


def record_batch(result: BatchResult, *, logger: Logger, metrics: EphemeralMetrics) -> None:
    """Log the batch's counts (never bodies) and add its metrics; published by the handler's ``publish_metrics``."""
    received = len(result.outcomes)
    metrics.add_metric(name="MessagesReceived", unit=MetricUnit.Count, value=received)
    for name, disposition in _METRICS:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=result.counts[disposition])
    failures = [(outcome, outcome.error) for outcome in result.outcomes if outcome.error is not None]
    # Most batches fail nowhere: their codes are known without counting.
    dead_letter_codes = result.error_codes(Disposition.DEAD_LETTERED) if failures else {}
    retry_codes = result.error_codes(Disposition.RETRY) if failures else {}
    conflicts = dead_letter_codes.get(ConflictingDuplicateError.code, 0)
    # A producer reusing event_ids for other content: worth its own alarm, not just a share of dead letters.
    metrics.add_metric(name="ConflictingDuplicates", unit=MetricUnit.Count, value=conflicts)
    metrics.add_metric(name="BatchDuration", unit=MetricUnit.Milliseconds, value=round(result.duration_ms, 3))
    failed = [
        {
            "message_id": outcome.message_id,
            "disposition": outcome.disposition.value,
            "code": error.code,
            "dead_letter_error": outcome.dead_letter_error.code if outcome.dead_letter_error else None,
        }
        for outcome, error in failures
    ]
    logger.info(
        "batch consumed",
        extra={
            "received": received,
            "stored": result.counts[Disposition.STORED],
            "duplicates": result.counts[Disposition.DUPLICATE],
            "dead_lettered": result.counts[Disposition.DEAD_LETTERED],
            "conflicting_duplicates": conflicts,
            "retried": result.counts[Disposition.RETRY],
            "fifo": result.fifo,
            "duration_ms": round(result.duration_ms, 3),
            "dead_letter_codes": dead_letter_codes,
            "retry_codes": retry_codes,
            "dead_letter_failures": sum(1 for outcome, _ in failures if outcome.dead_letter_error is not None),
            "failed_messages": failed[:MAX_LOGGED_IDS],
            **({"sink_rows": record_sinks(result, logger=logger)} if result.sink_counts else {}),
        },
    )
