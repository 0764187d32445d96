"""Alarms, the SNS topic they notify, and a dashboard of the pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sqs as sqs

    from sluice_cdk.config import AlarmThresholds, ConnectionBudget

__all__ = ["ALARMS", "Monitoring"]

# Alarm construct ids; each alarm's description says what to do.
ALARMS: Final = (
    "DeadLetterQueueNotEmpty",
    "OldestMessageAge",
    "ConsumerErrors",
    "ConsumerThrottles",
    "IngestErrors",
    "ProxyConnectionsNearBudget",
)
_MAXIMUM: Final = "Maximum"
_SUM: Final = "Sum"


class Monitoring(Construct):
    """``topic`` (alarm notifications), ``alarms`` by name, and ``dashboard``."""

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
        alarm_emails: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        period = Duration.seconds(thresholds.evaluation_period_seconds)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="Sluice alarms", enforce_ssl=True)
        for email in alarm_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        proxy_connections = cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name="DatabaseConnections",  # connections the proxy holds open to the database
            dimensions_map={"ProxyName": proxy_name},
            statistic=_MAXIMUM,
            period=period,
        )
        gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        specs: dict[str, tuple[cloudwatch.Metric, float, cloudwatch.ComparisonOperator, int, str]] = {
            "DeadLetterQueueNotEmpty": (
                dead_letter_queue.metric_approximate_number_of_messages_visible(period=period, statistic=_MAXIMUM),
                0,
                gt,
                1,
                "Messages were dead-lettered: inspect them with `sluice dlq stats`, fix, then `sluice dlq redrive`.",
            ),
            "OldestMessageAge": (
                queue.metric_approximate_age_of_oldest_message(period=period, statistic=_MAXIMUM),
                thresholds.oldest_message_age_seconds,
                gt,
                thresholds.evaluation_periods,
                "The queue's oldest message keeps getting older: the consumer is failing, throttled or too slow.",
            ),
            "ConsumerErrors": (
                consumer.metric_errors(period=period, statistic=_SUM),
                0,
                gt,
                1,
                "The consumer raised (whole batches are retried): check its logs for the error code.",
            ),
            "ConsumerThrottles": (
                consumer.metric_throttles(period=period, statistic=_SUM),
                0,
                gt,
                1,
                "The consumer was throttled: account concurrency is short of the event source's maximum.",
            ),
            "IngestErrors": (
                ingest.metric_errors(period=period, statistic=_SUM),
                0,
                gt,
                1,
                "The ingest function raised: producers got 5xx answers.",
            ),
            "ProxyConnectionsNearBudget": (
                proxy_connections,
                budget.alarm_threshold,
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                thresholds.evaluation_periods,
                (
                    f"RDS Proxy holds >= {budget.alarm_threshold} of the {budget.proxy_connections} database "
                    "connections it may open: look for pinned sessions or raise the budget."
                ),
            ),
        }
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, (metric, threshold, operator, periods, description) in specs.items():
            alarm = metric.create_alarm(
                self,
                name,
                threshold=threshold,
                comparison_operator=operator,
                evaluation_periods=periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            alarm.add_alarm_action(actions.SnsAction(self.topic))
            alarm.add_ok_action(actions.SnsAction(self.topic))
            self.alarms[name] = alarm
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24),
        )
        self.dashboard.add_widgets(
            _graph("Queue depth", queue.metric_approximate_number_of_messages_visible(period=period)),
            _graph("Oldest message age (s)", specs["OldestMessageAge"][0]),
            _graph("Dead-letter queue depth", specs["DeadLetterQueueNotEmpty"][0]),
        )
        self.dashboard.add_widgets(
            _graph(
                "Consumer invocations, errors, throttles",
                consumer.metric_invocations(period=period),
                specs["ConsumerErrors"][0],
                specs["ConsumerThrottles"][0],
            ),
            _graph("Consumer duration (p99, ms)", consumer.metric_duration(period=period, statistic="p99")),
            _graph("Proxy database connections", proxy_connections),
        )
        self.dashboard.add_widgets(
            _graph("Ingest invocations, errors", ingest.metric_invocations(period=period), specs["IngestErrors"][0]),
        )


def _graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8)
