"""The consumer function: in the VPC with its own security group, fed by the queue through an event source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from sluice_cdk.lambdas import CONSUMER_HANDLER, python_function

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aws_cdk import aws_sqs as sqs

    from sluice_cdk.lambdas import FunctionOptions, VpcPlacement
    from sluice_shared.topology import QueueTopology

__all__ = ["ConsumerFunction"]


class ConsumerFunction(Construct):
    """``function`` reads ``queue`` in batches through ``event_source``: partial batch responses on, concurrency
    capped by the connection budget. It may consume the queue; every other permission is granted by the stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        options: FunctionOptions,
        placement: VpcPlacement,
        queue: sqs.IQueue,
        topology: QueueTopology,
        max_concurrency: int,
        memory_mib: int,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = placement.security_group(
            self, "SecurityGroup", description="Sluice consumer: HTTPS to AWS APIs, 5432 to RDS Proxy"
        )
        self.function = python_function(
            self,
            "Function",
            code=code,
            handler=CONSUMER_HANDLER,
            description="Sluice consumer: validates SQS batches and writes them to PostgreSQL",
            memory_mib=memory_mib,
            timeout=Duration.seconds(topology.consumer_timeout_seconds),
            options=options,
            environment=environment,
            placement=placement,
            security_group=self.security_group,
        )
        queue.grant_consume_messages(self.function)
        self.event_source = lambda_.EventSourceMapping(
            self,
            "QueueEventSource",
            target=self.function,
            event_source_arn=queue.queue_arn,
            batch_size=topology.batch_size,
            # FIFO event sources take no batching window; 0 s is the default anyway.
            max_batching_window=(
                Duration.seconds(topology.batching_window_seconds)
                if topology.batching_window_seconds and not topology.fifo
                else None
            ),
            report_batch_item_failures=True,
            max_concurrency=max_concurrency,
        )
