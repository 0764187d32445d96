"""The source queue and its dead-letter queue, created as the CDK stack configures them, from one topology.

The redrive policy (``maxReceiveCount``), the visibility timeout (at least six times the consumer timeout
plus the batching window) and the DLQ retention all come from :class:`~sluice_shared.topology.QueueTopology`,
so the local profile may shorten timeouts for speed but never breaks the rules the deployed stack follows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sluice_shared.aws import botocore_errors, classify_sqs_error
from sluice_shared.limits import SQS_FIFO_SUFFIX
from sluice_shared.topology import QueueTopology

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

__all__ = ["LOCAL_TOPOLOGY", "LocalQueues", "create_queues"]

# The local profile: a 5 s consumer timeout and a 1 s batching window give a 31 s visibility timeout, so a
# failed message is retried within half a minute instead of the deployed stack's six minutes.
LOCAL_TOPOLOGY: Final = QueueTopology(
    consumer_timeout_seconds=5, batch_size=100, batching_window_seconds=1, max_receive_count=5
).validate()


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalQueues:
    """Where the queues are, and the topology they were created from."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    topology: QueueTopology


def create_queues(client: SQSClient, *, name: str, topology: QueueTopology = LOCAL_TOPOLOGY) -> LocalQueues:
    """Create (or find, when identical) the queue ``name`` and its DLQ ``name-dlq`` for ``topology``.

    FIFO topologies get ``.fifo`` names and, as in the CDK stack, no content-based deduplication: producers
    give each message a deduplication id (Sluice's publisher and dead-letter sink do).

    Raises:
        ConfigurationError: the topology breaks a rule.
        QueueUnavailableError, MessageRejectedError: the endpoint failed or refused (for example a queue of
            that name exists with other attributes).
    """
    topology.validate()
    suffix = SQS_FIFO_SUFFIX if topology.fifo else ""
    fifo: dict[QueueAttributeNameType, str] = {"FifoQueue": "true"} if topology.fifo else {}
    try:
        dlq_url = client.create_queue(
            QueueName=f"{name}-dlq{suffix}",
            Attributes={"MessageRetentionPeriod": str(topology.dlq_retention_seconds), **fifo},
        )["QueueUrl"]
        dlq_arn = _arn(client, dlq_url)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": topology.max_receive_count}
        queue_url = client.create_queue(
            QueueName=f"{name}{suffix}",
            Attributes={
                "VisibilityTimeout": str(topology.effective_visibility_timeout_seconds),
                "RedrivePolicy": json.dumps(redrive),
                **fifo,
            },
        )["QueueUrl"]
        queue_arn = _arn(client, queue_url)
    except botocore_errors() as exc:  # classified right here into permanent/transient
        raise classify_sqs_error(exc) from exc
    return LocalQueues(queue_url=queue_url, queue_arn=queue_arn, dlq_url=dlq_url, dlq_arn=dlq_arn, topology=topology)


def _arn(client: SQSClient, queue_url: str) -> str:
    return client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
