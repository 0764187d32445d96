"""The consumer Lambda's entry point: an SQS event source with ``ReportBatchItemFailures``.

Thin by design: Powertools wiring and one call into :func:`sluice_consumer.logic.consume_batch`; the
collaborators come from :mod:`sluice_consumer.runtime`. Returns exactly ``{"batchItemFailures": [...]}``.

A transient failure (database, Secrets Manager or a token's credentials unreachable) becomes batch item failures
in the logic, so SQS delivers those messages again. A configuration error, which is about no message (a missing or
unreadable secret, settings that do not validate, a schema the code does not match), fails the invocation after
one error line naming its code; anything else is a bug and propagates as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluice_consumer import runtime
from sluice_consumer.deadline import Deadline
from sluice_consumer.logic import consume_batch
from sluice_consumer.records import SqsBatch
from sluice_consumer.telemetry import SERVICE, record_batch
from sluice_shared.errors import ConfigurationError
from sluice_shared.observability import build_logger, build_metrics, publish_metrics, subsegment

if TYPE_CHECKING:
    from sluice_consumer.deadline import LambdaContextLike
    from sluice_consumer.logic import PartialBatchResponse

__all__ = ["lambda_handler", "logger", "metrics"]

logger = build_logger(SERVICE)
metrics = build_metrics(SERVICE)


@publish_metrics(metrics, logger=logger)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContextLike) -> PartialBatchResponse:
    """Consume one SQS batch; report the messages SQS must deliver again.

    Raises:
        ConfigurationError: the batch cannot be processed until the configuration changes (logged first).
        InvalidEventError: the event is not an SQS event (the function is wired to something else).
    """
    batch = SqsBatch.from_event(event)  # a wrong trigger is the event's fault, raised as it is
    try:
        settings = runtime.get_settings()
        with subsegment("consume_batch", service=SERVICE, enabled=settings.tracing):
            result = consume_batch(
                batch,
                store=runtime.get_event_store(),
                dead_letters=runtime.get_dead_letter_sink(),
                registry=runtime.get_registry(),
                max_body_bytes=settings.max_body_bytes,
                max_receive_count=settings.max_receive_count,
                deadline=Deadline.from_context(context, margin_ms=settings.batch_deadline_margin_ms),
            )
    except ConfigurationError as exc:
        # Not about one message: the whole batch fails and SQS delivers it again until the configuration is fixed.
        logger.exception("batch failed: the configuration must change", extra={"code": exc.code, "error": exc.message})
        raise
    record_batch(result, logger=logger, metrics=metrics)
    return result.response()
