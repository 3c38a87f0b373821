"""Alarms to an encrypted SNS topic, and one dashboard of the whole pipeline.

The handlers publish Powertools metrics (EMF) in namespace ``loglens`` with the dimension
``service`` = the function's module name; the names below are the contract with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.components.functions import METRICS_NAMESPACE
from infra.config import LoglensConfig

ACCEPTED_METRIC = "RecordsAccepted"
REJECTED_METRIC = "RecordsRejected"
ROWS_WRITTEN_METRIC = "RowsWritten"
FIVE_MINUTES = Duration.minutes(5)


@dataclass(frozen=True)
class WatchedResources:
    """Everything the alarms and the dashboard look at, handed over by the other stacks."""

    functions: Mapping[str, lambda_.IFunction]
    ingest_api: apigw.RestApi
    query_api: apigw.RestApi
    load_queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    database: rds.DatabaseInstance
    proxy: rds.DatabaseProxy
    delivery_stream_name: str


class AlarmTopic(Construct):
    """SNS topic for alarms: KMS-encrypted, TLS-only, optional e-mail subscription."""

    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(
            self,
            "Key",
            description=f"loglens {config.stage}: alarm notifications",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch publishes alarms to the encrypted topic and needs the key for that.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.topic = sns.Topic(
            self, "Topic", display_name=f"loglens {config.stage} alarms", master_key=key, enforce_ssl=True
        )
        if config.alarms.email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarms.email))


class PipelineAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        watched: WatchedResources,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(construct_id: str, metric: cw.IMetric, description: str, threshold: float, periods: int) -> None:
            created = cw.Alarm(
                self,
                construct_id,
                metric=metric,
                alarm_description=description,
                threshold=threshold,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms.append(created)

        alarm(
            "DeadLetterQueueNotEmpty",
            watched.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            "Raw objects failed to load 5 times and wait in the DLQ: fix the cause, then `loglens replay --dlq`",
            1,
            1,
        )
        alarm(
            "LoadQueueAgeHigh",
            watched.load_queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
            "Logs are waiting to be loaded (database down or load failing): check the load function and RDS",
            config.alarms.queue_age_seconds,
            2,
        )
        alarm(
            "DatabaseCpuHigh",
            watched.database.metric_cpu_utilization(period=FIVE_MINUTES, statistic="Average"),
            "PostgreSQL CPU is high for 15 minutes: look at Performance Insights and pg_stat_statements",
            config.alarms.db_cpu_percent,
            3,
        )
        alarm(
            "DeliveryFreshnessHigh",
            cw.Metric(
                namespace="AWS/Firehose",
                metric_name="DeliveryToS3.DataFreshness",
                dimensions_map={"DeliveryStreamName": watched.delivery_stream_name},
                period=FIVE_MINUTES,
                statistic="Maximum",
            ),
            "Firehose cannot deliver to the raw bucket: records wait in the stream (up to 24 h)",
            max(900, 3 * config.firehose.buffer_interval_seconds),
            2,
        )
        for name, function in watched.functions.items():
            alarm(
                f"{name.title()}Errors",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                f"The {name} function failed: see its log group",
                1,
                1,
            )


class PipelineDashboard(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: LoglensConfig, watched: WatchedResources
    ) -> None:
        super().__init__(scope, construct_id)
        minute = Duration.minutes(1)

        def loglens_metric(name: str, service: str) -> cw.Metric:
            return cw.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": service},
                statistic="Sum",
                period=minute,
                label=f"{service} {name}",
            )

        def proxy_metric(name: str) -> cw.Metric:
            return cw.Metric(
                namespace="AWS/RDS",
                metric_name=name,
                dimensions_map={"ProxyName": watched.proxy.db_proxy_name},
                statistic="Maximum",
                period=minute,
                label=f"proxy {name}",
            )

        functions = watched.functions
        ask = functions["ask"]
        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"loglens-{config.stage}",
            default_interval=Duration.hours(3),
            widgets=[
                [
                    cw.GraphWidget(
                        title="Ingest requests",
                        left=[watched.ingest_api.metric_count(period=minute, statistic="Sum", label="requests")],
                        right=[
                            watched.ingest_api.metric_client_error(period=minute, statistic="Sum", label="4xx"),
                            watched.ingest_api.metric_server_error(period=minute, statistic="Sum", label="5xx"),
                        ],
                    ),
                    cw.GraphWidget(
                        title="Records accepted / rejected (collect)",
                        left=[loglens_metric(ACCEPTED_METRIC, "collect"), loglens_metric(REJECTED_METRIC, "collect")],
                        right=[loglens_metric(ROWS_WRITTEN_METRIC, "load")],
                    ),
                    cw.GraphWidget(
                        title="Load lag and DLQ",
                        left=[
                            watched.load_queue.metric_approximate_age_of_oldest_message(
                                period=minute, statistic="Maximum", label="oldest message age (s)"
                            )
                        ],
                        right=[
                            watched.dead_letter_queue.metric_approximate_number_of_messages_visible(
                                period=minute, statistic="Maximum", label="DLQ depth"
                            )
                        ],
                    ),
                ],
                [
                    cw.GraphWidget(
                        title="Lambda errors",
                        left=[
                            fn.metric_errors(period=minute, statistic="Sum", label=name)
                            for name, fn in functions.items()
                        ],
                    ),
                    cw.GraphWidget(
                        title="Lambda throttles",
                        left=[
                            fn.metric_throttles(period=minute, statistic="Sum", label=name)
                            for name, fn in functions.items()
                        ],
                    ),
                    cw.GraphWidget(
                        title="Ask latency",
                        left=[
                            ask.metric_duration(period=minute, statistic=stat, label=f"ask {stat}")
                            for stat in ("p50", "p90", "p99")
                        ],
                        right=[watched.query_api.metric_latency(period=minute, statistic="p90", label="API p90")],
                    ),
                ],
                [
                    cw.GraphWidget(
                        title="Database",
                        left=[watched.database.metric_cpu_utilization(period=minute, label="CPU %")],
                        right=[watched.database.metric_database_connections(period=minute, label="connections")],
                    ),
                    cw.GraphWidget(
                        title="RDS Proxy connections",
                        left=[proxy_metric("ClientConnections"), proxy_metric("DatabaseConnections")],
                    ),
                    cw.GraphWidget(
                        title="Firehose",
                        left=[
                            cw.Metric(
                                namespace="AWS/Firehose",
                                metric_name="IncomingRecords",
                                dimensions_map={"DeliveryStreamName": watched.delivery_stream_name},
                                statistic="Sum",
                                period=minute,
                                label="incoming records",
                            )
                        ],
                        right=[
                            cw.Metric(
                                namespace="AWS/Firehose",
                                metric_name="DeliveryToS3.DataFreshness",
                                dimensions_map={"DeliveryStreamName": watched.delivery_stream_name},
                                statistic="Maximum",
                                period=minute,
                                label="delivery freshness (s)",
                            )
                        ],
                    ),
                ],
            ],
        )
