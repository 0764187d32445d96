"""Alarms that can fire, where they go, and a dashboard of the pipeline.

Every threshold is one the metric can reach under the stage's configuration (``StageConfig`` refuses the
others, and a test computes each one's ceiling): client connections against the concurrency budget's client
capacity, any session RDS Proxy pins (Sluice's pinning-free promise), a borrow latency below the proxy's borrow
timeout, a backlog age below the queue's retention.

Alarms go to the stage's :class:`~sluice_cdk.config.AlarmDestination`: a topic of the stack's own with the
emails subscribed, an existing SNS topic, or (said explicitly) nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

if TYPE_CHECKING:
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sqs as sqs

    from sluice_cdk.config import AlarmDestination, AlarmThresholds, ConnectionBudget

__all__ = ["ALARMS", "Monitoring"]

# Alarm construct ids; each alarm's description says what to do.
ALARMS: Final = (
    "DeadLetterQueueNotEmpty",
    "OldestMessageAge",
    "ConsumerErrors",
    "ConsumerThrottles",
    "IngestErrors",
    "ProxyClientConnectionsNearBudget",
    "ProxySessionsPinned",
    "ProxyBorrowLatency",
)
_MAXIMUM: Final = "Maximum"
_SUM: Final = "Sum"
_MICROSECONDS_PER_MS: Final = 1000  # DatabaseConnectionsBorrowLatency is in microseconds


@dataclass(frozen=True, slots=True)
class _Spec:
    metric: cloudwatch.Metric
    threshold: float
    operator: cloudwatch.ComparisonOperator
    periods: int
    description: str
    missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING


class Monitoring(Construct):
    """``alarms`` by name, the ``topic`` they notify (None when they go nowhere), and ``dashboard``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        consumer: lambda_.IFunction,
        ingest: lambda_.IFunction,
        proxy_name: str,
        budget: ConnectionBudget,
        thresholds: AlarmThresholds,
        destination: AlarmDestination,
    ) -> None:
        super().__init__(scope, construct_id)
        period = Duration.seconds(thresholds.evaluation_period_seconds)
        self.topic = self._topic(destination)

        def proxy_metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name=name,
                dimensions_map={"ProxyName": proxy_name},
                statistic=_MAXIMUM,
                period=period,
            )

        gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        sustained = thresholds.evaluation_periods
        clients = budget.client_alarm_threshold(thresholds.client_connections_percent)
        specs = {
            "DeadLetterQueueNotEmpty": _Spec(
                dead_letter_queue.metric_approximate_number_of_messages_visible(period=period, statistic=_MAXIMUM),
                0,
                gt,
                1,
                "Messages were dead-lettered: inspect them with `sluice dlq stats`, fix, then `sluice dlq redrive`.",
                # SQS stops publishing metrics for a queue nobody touches for six hours, messages or not: missing
                # data keeps the alarm as it was instead of clearing it while messages still sit there.
                cloudwatch.TreatMissingData.IGNORE,
            ),
            "OldestMessageAge": _Spec(
                queue.metric_approximate_age_of_oldest_message(period=period, statistic=_MAXIMUM),
                thresholds.oldest_message_age_seconds,
                gt,
                sustained,
                "The queue's oldest message keeps getting older: the consumer is failing, throttled or too slow.",
            ),
            "ConsumerErrors": _Spec(
                consumer.metric_errors(period=period, statistic=_SUM),
                0,
                gt,
                1,
                "The consumer raised (whole batches are retried): check its logs for the error code.",
            ),
            "ConsumerThrottles": _Spec(
                consumer.metric_throttles(period=period, statistic=_SUM),
                0,
                gt,
                1,
                "The consumer was throttled: account concurrency is short of the event source's maximum.",
            ),
            "IngestErrors": _Spec(
                ingest.metric_errors(period=period, statistic=_SUM),
                0,
                gt,
                1,
                "The ingest function raised: producers got 5xx answers.",
            ),
            "ProxyClientConnectionsNearBudget": _Spec(
                proxy_metric("ClientConnections"),
                clients,
                gte,
                sustained,
                (
                    f"RDS Proxy has >= {clients} client connections of the {budget.client_capacity} the budget "
                    f"plans for ({budget.max_concurrency} consumer environments + {budget.reserved_connections} "
                    "reserved): the consumer runs at its concurrency cap, or something else connects."
                ),
            ),
            "ProxySessionsPinned": _Spec(
                proxy_metric("DatabaseConnectionsCurrentlySessionPinned"),
                0,
                gt,
                1,
                (
                    "RDS Proxy pinned a session: a client used session state (SET, a named prepared statement, a "
                    "temporary table, an advisory lock...). Sluice never does: find the client by its "
                    "application_name in pg_stat_activity."
                ),
            ),
            "ProxyBorrowLatency": _Spec(
                proxy_metric("DatabaseConnectionsBorrowLatency"),
                thresholds.borrow_latency_ms * _MICROSECONDS_PER_MS,
                gte,
                sustained,
                (
                    f"RDS Proxy took >= {thresholds.borrow_latency_ms} ms to hand out a database connection: the "
                    "database is short of connections or slow to open them (requests fail at the borrow timeout)."
                ),
            ),
        }
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, spec in specs.items():
            alarm = spec.metric.create_alarm(
                self,
                name,
                threshold=spec.threshold,
                comparison_operator=spec.operator,
                evaluation_periods=spec.periods,
                treat_missing_data=spec.missing,
                alarm_description=spec.description,
            )
            if self.topic is not None:
                alarm.add_alarm_action(actions.SnsAction(self.topic))
                alarm.add_ok_action(actions.SnsAction(self.topic))
            self.alarms[name] = alarm
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24),
        )
        self.dashboard.add_widgets(
            _graph("Queue depth", queue.metric_approximate_number_of_messages_visible(period=period)),
            _graph("Oldest message age (s)", specs["OldestMessageAge"].metric),
            _graph("Dead-letter queue depth", specs["DeadLetterQueueNotEmpty"].metric),
        )
        self.dashboard.add_widgets(
            _graph(
                "Consumer invocations, errors, throttles",
                consumer.metric_invocations(period=period),
                specs["ConsumerErrors"].metric,
                specs["ConsumerThrottles"].metric,
            ),
            _graph("Consumer duration (p99, ms)", consumer.metric_duration(period=period, statistic="p99")),
            _graph(
                "Proxy connections: clients, database, pinned",
                specs["ProxyClientConnectionsNearBudget"].metric,
                proxy_metric("DatabaseConnections"),
                specs["ProxySessionsPinned"].metric,
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Ingest invocations, errors", ingest.metric_invocations(period=period), specs["IngestErrors"].metric
            ),
            _graph("Proxy borrow latency (max, us)", specs["ProxyBorrowLatency"].metric),
        )

    def _topic(self, destination: AlarmDestination) -> sns.ITopic | None:
        if destination.nowhere:
            return None
        if destination.topic_arn:
            return sns.Topic.from_topic_arn(self, "AlarmTopic", destination.topic_arn)
        topic = sns.Topic(self, "AlarmTopic", display_name="Sluice alarms", enforce_ssl=True)
        for email in destination.emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic


def _graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8)
