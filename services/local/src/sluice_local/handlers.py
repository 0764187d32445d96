"""The real consumer and ingest handlers, configured in-process for one local pipeline.

Each function runs through its public in-process entry (``sluice_consumer.in_process``,
``sluice_ingest.in_process``): its settings are given, never read from ``os.environ``, and so is its SQS
client. Calls are serialized per handler: the pipeline's process is one Lambda execution environment per
function, and Lambda never runs two invocations in one environment at once (module-level Powertools state and
the cached one-connection pool assume it). Each function's metrics are its own
(``sluice_shared.observability.build_metrics``), so one handler's invocation never touches the other's.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from pydantic import SecretStr

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from sluice_local.event_source import Handler
    from sluice_shared.topology import QueueTopology

__all__ = ["consumer_handler", "deadline_margin_ms", "ingest_handler", "serialized"]

# The consumer stops starting work when this share of its timeout is left, leaving time to roll back and
# report failures (its default margin, 3 s, would leave a short local timeout little or no time to work).
DEADLINE_MARGIN_SHARE: Final = 0.25
DEFAULT_DEADLINE_MARGIN_MS: Final = 3_000


def serialized(handler: Handler) -> Handler:
    """``handler`` behind a lock: one invocation at a time, like one Lambda execution environment."""
    lock = threading.Lock()

    @functools.wraps(handler)
    def invoke(event: dict[str, Any], context: Any) -> Any:
        with lock:
            return handler(event, context)

    return invoke


def deadline_margin_ms(topology: QueueTopology) -> int:
    """The consumer's deadline margin for this topology's function timeout."""
    return min(DEFAULT_DEADLINE_MARGIN_MS, int(topology.consumer_timeout_seconds * 1000 * DEADLINE_MARGIN_SHARE))


@contextmanager
def consumer_handler(
    *,
    database_url: str,
    dlq_url: str,
    client: SQSClient,
    topology: QueueTopology,
    payload_registry: str | None = None,
) -> Iterator[Handler]:
    """Configure the consumer for this pipeline and yield its Lambda handler; reset the consumer on exit."""
    from sluice_consumer.dead_letters import SqsDeadLetterSink  # noqa: PLC0415 - psycopg, pool, Powertools load
    from sluice_consumer.in_process import in_process  # noqa: PLC0415 - only when used
    from sluice_consumer.settings import ConsumerSettings  # noqa: PLC0415
    from sluice_shared.sqs import BatchSender  # noqa: PLC0415

    settings = ConsumerSettings(
        database_url=SecretStr(database_url), dlq_url=dlq_url, batch_deadline_margin_ms=deadline_margin_ms(topology)
    )
    if payload_registry:  # else whatever the environment says (SLUICE_PAYLOAD_REGISTRY), as in a deployed function
        settings = settings.model_copy(update={"payload_registry": payload_registry})
    sink = SqsDeadLetterSink(dlq_url, sender=BatchSender(dlq_url, client=client))
    with in_process(settings, dead_letters=sink) as handler:  # closes the pool on exit
        yield serialized(handler)


@contextmanager
def ingest_handler(*, queue_url: str, client: SQSClient, payload_registry: str | None = None) -> Iterator[Handler]:
    """Configure the ingest function for this pipeline and yield its Lambda handler; reset it on exit."""
    from sluice_ingest.in_process import in_process  # noqa: PLC0415 - Powertools loads only when used
    from sluice_ingest.settings import IngestSettings  # noqa: PLC0415
    from sluice_shared.sqs import BatchSender  # noqa: PLC0415

    settings = IngestSettings(queue_url=queue_url)
    if payload_registry:  # see consumer_handler
        settings = settings.model_copy(update={"payload_registry": payload_registry})
    with in_process(settings, sender=BatchSender(queue_url, client=client)) as handler:
        yield serialized(handler)
