"""The source queue and its dead-letter queue: encrypted, TLS-only, redriven after ``maxReceiveCount`` receives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

if TYPE_CHECKING:
    from aws_cdk import RemovalPolicy

    from sluice_shared.topology import QueueTopology

__all__ = ["Queues"]


class Queues(Construct):
    """``queue`` (what the ingest function sends to and the consumer reads) and ``dead_letter_queue``.

    Both use SQS-managed server-side encryption and deny any request not made over TLS. The visibility timeout
    and ``maxReceiveCount`` come from a :class:`~sluice_shared.topology.QueueTopology`, validated first.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: QueueTopology,
        retention_seconds: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        topology.validate()
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            fifo=topology.fifo or None,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.seconds(topology.dlq_retention_seconds),
            removal_policy=removal_policy,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            fifo=topology.fifo or None,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.seconds(retention_seconds),
            visibility_timeout=Duration.seconds(topology.effective_visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=topology.max_receive_count
            ),
            removal_policy=removal_policy,
        )
