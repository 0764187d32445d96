"""The ingest Lambda: ``POST /events`` behind an HTTP API or a Function URL, or a direct list of events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from sluice_ingest.logic import CorrelationIdPolicy, IngestLimits, handle_invocation, misconfigured
from sluice_ingest.runtime import get_publisher, get_settings
from sluice_ingest.settings import current_trace_header
from sluice_shared.errors import ConfigurationError
from sluice_shared.limits import LAMBDA_SYNC_PAYLOAD_BYTES
from sluice_shared.observability import build_logger, build_metrics, publish_metrics, redact_field_errors

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from sluice_shared.publisher import EventResult, PublishReceipt

__all__ = ["lambda_handler"]

SERVICE = "ingest"
LOGGED_RESULTS = 20  # rejected/failed events detailed in one log line; the counts cover the rest
logger = build_logger(SERVICE)
metrics = build_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@publish_metrics(metrics, logger=logger)
def lambda_handler(event: Any, context: LambdaContext) -> Any:
    """Validate and enqueue the events of one request (see :mod:`sluice_ingest.logic` for status codes)."""
    receipt: PublishReceipt | None = None
    redacted: frozenset[str] = frozenset()
    try:
        settings = get_settings()
        redacted = frozenset(settings.redact_fields)
        outcome = handle_invocation(
            event,
            publisher=get_publisher,
            limits=IngestLimits(max_events=settings.max_events, max_body_bytes=LAMBDA_SYNC_PAYLOAD_BYTES),
            correlation=CorrelationIdPolicy(header=settings.correlation_id_header, fallback=context.aws_request_id),
            trace_header=current_trace_header() if settings.tracing else None,
        )
        receipt = outcome.receipt
    except ConfigurationError as exc:
        # Unusable settings: an HTTP client still gets a JSON 500 that reveals nothing; a direct caller the error.
        outcome = misconfigured(event, exc, correlation_id=context.aws_request_id)
    finally:
        _count(receipt)
    logger.set_correlation_id(outcome.correlation_id)
    if receipt is not None:
        logger.info(
            "events ingested",
            extra={
                "queued": len(receipt.queued),
                "rejected": [_loggable(result, redacted) for result in receipt.rejected[:LOGGED_RESULTS]],
                "failed": [result.to_dict() for result in receipt.failed[:LOGGED_RESULTS]],
            },
        )
    if outcome.error is not None:
        logger.error("events not queued", extra={"error_code": outcome.error.code}, exc_info=outcome.error)
        if outcome.reraise:
            raise outcome.error
    return outcome.response


def _loggable(result: EventResult, redacted: frozenset[str]) -> dict[str, Any]:
    # The client gets every reason (it sent the values); the log masks reasons about SLUICE_REDACT_FIELDS.
    data = result.to_dict()
    if "error" in data:
        data["error"] = redact_field_errors(data["error"], redacted)
    return data


def _count(receipt: PublishReceipt | None) -> None:
    # Emitted on every invocation (zero when nothing was published) so each request shows in the metrics.
    metrics.add_metric(name="EventsQueued", unit=MetricUnit.Count, value=len(receipt.queued) if receipt else 0)
    metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=len(receipt.rejected) if receipt else 0)
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=len(receipt.failed) if receipt else 0)
