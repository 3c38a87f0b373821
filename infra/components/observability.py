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
ARCHIVE_BACKLOG_METRIC = "ArchiveBacklogSeconds"  # functions/archive.py
ROLLUP_PENDING_METRIC = "RollupHoursPending"  # functions/maintain.py
FIVE_MINUTES = Duration.minutes(5)
GIB = 1024**3


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

        def alarm(
            construct_id: str,
            metric: cw.IMetric,
            description: str,
            threshold: float,
            periods: int,
            comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        ) -> None:
            created = cw.Alarm(
                self,
                construct_id,
                metric=metric,
                alarm_description=description,
                threshold=threshold,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                comparison_operator=comparison,
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
        alarms = config.alarms
        alarm(
            "DatabaseFreeStorageLow",
            watched.database.metric_free_storage_space(period=FIVE_MINUTES, statistic="Minimum"),
            f"PostgreSQL has less than {alarms.free_storage_gib} GiB free: storage autoscaling reached "
            f"max_allocated_storage_gib ({config.database.max_allocated_storage_gib}) or is cooling down. Check "
            "that the archive keeps up (ArchiveBacklogSeconds), then raise the cap or move to a larger preset",
            alarms.free_storage_gib * GIB,
            1,
            cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        )
        alarm(
            "DeliveryThrottled",
            self._firehose_metric(watched, "ThrottledRecords", "Sum"),
            "Firehose throttled records (collect answers 503 and clients retry): the stream is at its quota. "
            "Ask for a higher Firehose quota (docs/deploy.md, 'What breaks first')",
            1,
            1,
        )
        alarm(
            "DeliveryNearItsLimit",
            cw.MathExpression(
                expression="100 * (incoming / 300) / limit",
                using_metrics={
                    "incoming": self._firehose_metric(watched, "IncomingBytes", "Sum"),
                    "limit": self._firehose_metric(watched, "BytesPerSecondLimit", "Maximum"),
                },
                label="incoming bytes as % of the stream's limit",
                period=FIVE_MINUTES,
            ),
            f"Firehose takes more than {alarms.firehose_bytes_percent}% of its bytes-per-second limit: ask for a "
            "higher quota before it throttles",
            alarms.firehose_bytes_percent,
            3,
        )
        for api_name, api in (("Ingest", watched.ingest_api), ("Query", watched.query_api)):
            alarm(
                f"{api_name}Api5xx",
                api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
                f"The {api_name.lower()} API answered 5XX {alarms.api_5xx_per_5_minutes}+ times in 5 minutes "
                "(for ingest, 503 means Firehose refused records): see the function's log group",
                alarms.api_5xx_per_5_minutes,
                1,
            )
        alarm(
            "ArchiveBehind",
            cw.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=ARCHIVE_BACKLOG_METRIC,
                dimensions_map={"service": "archive"},
                period=Duration.hours(1),
                statistic="Maximum",
            ),
            "The oldest partition still in PostgreSQL is more than a day past retention: the archive is not "
            "keeping up or is failing (its log group, the archive_ledger table). Storage keeps growing meanwhile",
            24 * 3600,
            1,
        )
        alarm(
            "SummaryViewsBehind",
            cw.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=ROLLUP_PENDING_METRIC,
                dimensions_map={"service": "maintain"},
                period=Duration.minutes(15),
                statistic="Minimum",
            ),
            "Hours of rows are waiting to reach the summary views for 30 minutes: the maintain function cannot "
            "keep up (its log group); the agent's prompt says how stale the views are meanwhile",
            6,
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

    @staticmethod
    def _firehose_metric(watched: WatchedResources, name: str, statistic: str) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/Firehose",
            metric_name=name,
            dimensions_map={"DeliveryStreamName": watched.delivery_stream_name},
            period=FIVE_MINUTES,
            statistic=statistic,
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
                        title="Summary views and archive",
                        left=[
                            cw.Metric(
                                namespace=METRICS_NAMESPACE,
                                metric_name=ROLLUP_PENDING_METRIC,
                                dimensions_map={"service": "maintain"},
                                statistic="Maximum",
                                period=minute,
                                label="hours waiting for the views",
                            )
                        ],
                        right=[
                            cw.Metric(
                                namespace=METRICS_NAMESPACE,
                                metric_name=ARCHIVE_BACKLOG_METRIC,
                                dimensions_map={"service": "archive"},
                                statistic="Maximum",
                                period=Duration.hours(1),
                                label="archive backlog (s past retention)",
                            )
                        ],
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
