"""The Sluice stack: composes one construct per concern and does the grants where things are wired."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags

from sluice_cdk.consumer import ConsumerFunction
from sluice_cdk.database import Database
from sluice_cdk.ingest import IngestFunction
from sluice_cdk.lambdas import FunctionOptions
from sluice_cdk.migrations import Migrations, app_migrations_digest
from sluice_cdk.monitoring import Monitoring
from sluice_cdk.network import Network
from sluice_cdk.providers import scope_provider_functions
from sluice_cdk.queues import Queues
from sluice_shared import environment as env

if TYPE_CHECKING:
    from constructs import Construct

    from sluice_cdk.config import StageConfig
    from sluice_cdk.lambdas import LambdaCode

__all__ = ["SluiceStack"]

# The only action the ingest function needs on the queue (SendMessageBatch is authorized by sqs:SendMessage),
# and the only one the consumer needs on the dead-letter queue.
SEND_ONLY: tuple[str, ...] = ("sqs:SendMessage",)


class SluiceStack(Stack):
    """Network, database + proxy, queues, ingest, consumer, migrations and monitoring for one stage.

    Environment-agnostic (no account or region): it synthesizes offline and deploys to whatever the CLI's
    credentials point at.

    Raises:
        ConfigurationError: at synth time, when the stage's configuration breaks a rule (queue topology,
            connection budget, retention, instance size).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, code: LambdaCode, **kwargs: Any
    ) -> None:
        self.config = config.validate()
        super().__init__(scope, construct_id, description=f"Sluice ingestion pipeline ({config.name})", **kwargs)
        for key, value in (("project", "sluice"), ("stage", config.name)):
            # CloudFormation's schema has no Tags on proxy target groups (CDK's validation rejects them).
            Tags.of(self).add(key, value, exclude_resource_types=["AWS::RDS::DBProxyTargetGroup"])
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        budget = config.budget
        functions = FunctionOptions(
            architecture=code.architecture,
            log_retention_days=config.log_retention_days,
            removal_policy=removal,
            environment={"POWERTOOLS_LOG_LEVEL": config.log_level},
            tracing=config.tracing,
        )

        self.network = Network(
            self,
            "Network",
            mode=config.network,
            nat_gateways=config.nat_gateways,
            flow_log_retention_days=config.log_retention_days,
            removal_policy=removal,
            tracing=config.tracing,
        )
        subnets = self.network.private_subnets
        self.queues = Queues(
            self,
            "Queues",
            topology=config.topology,
            retention_seconds=config.queue_retention_seconds,
            removal_policy=removal,
        )
        self.database = Database(
            self,
            "Database",
            vpc=self.network.vpc,
            subnets=subnets,
            config=config.database,
            removal_policy=removal,
            log_retention_days=config.log_retention_days,
        )

        self.migrations = Migrations(
            self,
            "Migrations",
            code=code.consumer,
            digest=_migrations_digest(code.migrations_digest, config.app_migrations),
            options=functions,
            placement=self.network.placement,
            environment={**self.database.owner_environment(), **config.migrations_environment},
            timeout_seconds=config.migrations_timeout_seconds,
            run_after=[self.network, self.database],
        )
        self.consumer = ConsumerFunction(
            self,
            "Consumer",
            code=code.consumer,
            options=functions,
            placement=self.network.placement,
            queue=self.queues.queue,
            topology=config.topology,
            max_concurrency=budget.max_concurrency,
            memory_mib=config.consumer_memory_mib,
            environment={
                **self.database.writer_environment(),
                **config.contract_environment,
                env.DLQ_URL: self.queues.dead_letter_queue.queue_url,
                # A sink row waiting for another message's row is retried until the last receive SQS allows.
                env.MAX_RECEIVE_COUNT: str(config.topology.max_receive_count),
            },
        )
        self.ingest = IngestFunction(
            self,
            "Ingest",
            code=code.ingest,
            options=functions,
            memory_mib=config.ingest_memory_mib,
            timeout_seconds=config.ingest_timeout_seconds,
            environment={**config.contract_environment, env.QUEUE_URL: self.queues.queue.queue_url},
        )

        # Wiring: who may reach the proxy, who may log in as whom, who may send where. The consumer is the writer
        # and nothing more; only the migrations function holds the schema owner's credentials.
        for client, description in (
            (self.consumer.security_group, "Sluice consumer"),
            (self.migrations.security_group, "Sluice migrations"),
        ):
            self.database.allow_client(client, description)
        self.database.grant_writer(self.consumer.function)
        self.database.grant_owner(self.migrations.function)
        self.queues.queue.grant(self.ingest.function, *SEND_ONLY)
        self.queues.dead_letter_queue.grant(self.consumer.function, *SEND_ONLY)
        # New code never runs against an old schema: on a create and on every update, the consumer function and
        # its event source change only after the migrations of this deploy ran.
        for dependent in (self.consumer.function, self.consumer.event_source):
            dependent.node.add_dependency(self.migrations.trigger)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            queue=self.queues.queue,
            dead_letter_queue=self.queues.dead_letter_queue,
            consumer=self.consumer.function,
            ingest=self.ingest.function,
            proxy_name=self.database.proxy.db_proxy_name,
            budget=budget,
            thresholds=config.alarms,
            destination=config.alarm_destination,
        )
        # CDK's own provider functions: a log group with the stage's retention, a role that writes only there.
        scope_provider_functions(self, retention_days=config.log_retention_days, removal_policy=removal)

        outputs = {
            "QueueUrl": (self.queues.queue.queue_url, "Send events here (or through the ingest URL)"),
            "DeadLetterQueueUrl": (self.queues.dead_letter_queue.queue_url, "Dead-lettered events (sluice dlq)"),
            "IngestUrl": (
                self.ingest.url.url,
                "Ingest Function URL: SigV4-signed requests from an identity with ProducerPolicy",
            ),
            "ProxyEndpoint": (self.database.proxy.endpoint, "RDS Proxy endpoint (TLS required)"),
            "DatabaseSecretArn": (self.database.secret.secret_arn, "Schema owner's credentials (operators only)"),
            "ProducerPolicyArn": (
                self.ingest.producer_policy.managed_policy_arn,
                "Attach to a producer's role, user or group to POST to the ingest URL",
            ),
            "ConsumerMaxConcurrency": (str(budget.max_concurrency), "Event source maximum concurrency (budget)"),
        }
        if self.monitoring.topic is not None:
            outputs["AlarmTopicArn"] = (self.monitoring.topic.topic_arn, "Alarm notifications go to this topic")
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)


def _migrations_digest(sluice: str, app_migrations: str | None) -> str:
    """Sluice's migrations digest, combined with the application's when it has its own migrations."""
    if app_migrations is None:
        return sluice
    return hashlib.sha256(f"{sluice}\0{app_migrations_digest(app_migrations)}".encode()).hexdigest()
