"""The lake tier in AWS: the Iceberg table and its upkeep, the Athena workgroup, and the Firehose stream into it.

State (``LakeStorage``, in the lake stack): a KMS key for lake data, the table's bucket, the Athena
results bucket (results expire after ``lake.results_expire_days``), the Glue database and the
Iceberg table ``logs`` (schema, ``day(created_at)`` partitions and the sort order from
loglens.lake.schema), the workgroup, and the table's upkeep:
- rows past ``lake.retention_days``: a daily EventBridge Scheduler call of Athena's
  StartQueryExecution runs ``DELETE FROM logs WHERE created_at < <midnight> - N days`` (no Lambda:
  the statement is fixed and Athena works out the date). The boundary is a midnight, so whole day
  partitions go and Athena can drop them from metadata without rewriting files.
- small files and deleted rows: Glue's managed compaction (sort strategy: the table's write order),
  snapshot expiry (``lake.snapshot_retention_days``) and orphan-file deletion, run by AWS Glue on the
  table itself. Those are Glue Data Catalog table optimizers on a general-purpose bucket; S3 Tables
  would do the same work inside its table bucket, but needs Lake Formation's S3 Tables integration
  and its own catalog ARN for Firehose and Athena — more moving parts for one table.
- S3 lifecycle never touches the table's data (expiring an Iceberg data file corrupts the table);
  it only expires Firehose's error objects, incomplete uploads and Athena's results.

Delivery (``LakeDeliveryStream``, in the ingest stack): a Direct PUT Firehose stream with the
Iceberg destination, its records transformed by the lakegate Lambda (loglens.lake.gate), upserting
on the unique keys (created_at, event_id) so a record delivered twice is one row, with records it
cannot deliver (and records the gate refuses) written whole under ``errors/lake/``.
"""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra.components.common import access_logs_bucket, data_bucket, log_group, removal_policy
from infra.config import LoglensConfig
from infra.nag import acknowledge_wildcard_resources
from loglens.lake.rows import UNIQUE_KEYS
from loglens.lake.schema import (
    PARQUET_COMPRESSION,
    PARTITION_TRANSFORM,
    SORT_COLUMNS,
    TABLE,
    TIME_COLUMN,
    column,
    lake_columns,
)

TABLE_PREFIX = "tables/"
ERRORS_PREFIX = "errors/"
LAKE_ERROR_PREFIX = f"{ERRORS_PREFIX}lake/!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"
RESULTS_PREFIX = "results/"
# The lakegate's batches: Firehose calls it with up to this much (1 MB default; at most 3) or after this long.
# Ten seconds, not the default sixty: on a lake-only stage the lake is the only place a record can be
# asked about, so the wait before the gate adds straight to how stale answers are; invocations are cheap.
PROCESSOR_BUFFER_MIB = 1
PROCESSOR_BUFFER_SECONDS = 10
# Iceberg partition fields get ids from 1000 up, apart from the schema's column ids.
_PARTITION_FIELD_ID = 1000


def retention_statement(retention_days: int, table: str = TABLE) -> str:
    """The daily DELETE: rows of days before today minus `retention_days` (whole UTC days)."""
    return (
        f"DELETE FROM {table} WHERE {TIME_COLUMN} < "
        f"date_trunc('day', current_timestamp) - INTERVAL '{retention_days}' DAY"
    )


class LakeStorage(Construct):
    """Everything stateful about the lake (see the module docstring)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        removal = removal_policy(config)
        lake = config.lake
        self.database_name = f"loglens_{config.stage}_lake"
        self.table_name = TABLE
        self.workgroup_name = f"loglens-{config.stage}-lake"

        self.key = kms.Key(
            self,
            "LakeDataKey",
            description=f"loglens {config.stage}: the lake's table data, Firehose errors and Athena results",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.access_logs_bucket = access_logs_bucket(self, config, logs_of="lake and results buckets")
        # Fixed names: Glue, Firehose and the IAM statements name them before the buckets exist.
        self.bucket_name = f"loglens-{config.stage}-lake-{Aws.ACCOUNT_ID}-{Aws.REGION}"
        self.results_bucket_name = f"loglens-{config.stage}-athena-{Aws.ACCOUNT_ID}-{Aws.REGION}"
        self.bucket_arn = stack.format_arn(service="s3", region="", account="", resource=self.bucket_name)
        self.results_bucket_arn = stack.format_arn(
            service="s3", region="", account="", resource=self.results_bucket_name
        )
        self.table_location = f"s3://{self.bucket_name}/{TABLE_PREFIX}{self.table_name}"
        self.bucket = self._bucket(
            "Lake",
            self.bucket_name,
            removal,
            [
                s3.LifecycleRule(
                    id="expire-errors",
                    prefix=ERRORS_PREFIX,
                    expiration=Duration.days(config.retention.raw_expire_days),
                )
            ],
        )
        self.results_bucket = self._bucket(
            "AthenaResults",
            self.results_bucket_name,
            removal,
            [s3.LifecycleRule(id="expire-results", expiration=Duration.days(lake.results_expire_days))],
        )

        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description=f"loglens {config.stage}: the lake (Iceberg)"
            ),
        )
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=self.table_name,
                description="Every accepted log record (loglens.lake.schema), one partition per UTC day",
                table_type="EXTERNAL_TABLE",
            ),
            open_table_format_input=glue.CfnTable.OpenTableFormatInputProperty(
                iceberg_input=glue.CfnTable.IcebergInputProperty(
                    metadata_operation="CREATE",
                    version="2",
                    iceberg_table_input=_iceberg_table(self.table_location),
                )
            ),
        )
        self.table.add_resource_dependency(database)
        self.workgroup = self._workgroup(config)
        self._optimizers(config)
        self._retention(config)

    @property
    def catalog_arn(self) -> str:
        return Stack.of(self).format_arn(service="glue", resource="catalog")

    @property
    def database_arn(self) -> str:
        return Stack.of(self).format_arn(service="glue", resource="database", resource_name=self.database_name)

    @property
    def table_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="glue", resource="table", resource_name=f"{self.database_name}/{self.table_name}"
        )

    @property
    def workgroup_arn(self) -> str:
        return Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=self.workgroup_name)

    @property
    def table_objects_arn(self) -> str:
        return f"{self.bucket_arn}/{TABLE_PREFIX}{self.table_name}/*"

    def glue_arns(self) -> list[str]:
        return [self.catalog_arn, self.database_arn, self.table_arn]

    def _bucket(self, construct_id: str, name: str, removal: RemovalPolicy, rules: list[s3.LifecycleRule]) -> s3.Bucket:
        return data_bucket(self, construct_id, name, removal, rules, key=self.key, access_logs=self.access_logs_bucket)

    def _workgroup(self, config: LoglensConfig) -> athena.CfnWorkGroup:
        return athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=self.workgroup_name,
            description=f"loglens {config.stage}: lake questions (per-query scan cutoff, encrypted results)",
            recursive_delete_option=not config.retain_data,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                # Every query here gets these settings, whatever its caller asks for.
                enforce_work_group_configuration=True,
                bytes_scanned_cutoff_per_query=config.lake.bytes_scanned_cutoff_gib * 1024**3,
                publish_cloud_watch_metrics_enabled=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket_name}/{RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=self.key.key_arn
                    ),
                ),
            ),
        )

    def _optimizers(self, config: LoglensConfig) -> None:
        """Glue's managed compaction, snapshot expiry and orphan-file deletion on the table."""
        role = iam.Role(
            self,
            "OptimizerRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="loglens lake: Glue table optimizers (compaction, snapshot expiry, orphan files)",
        )
        log_groups = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/iceberg*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "OptimizerPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(actions=["glue:GetTable", "glue:UpdateTable"], resources=self.glue_arns()),
                iam.PolicyStatement(actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[self.bucket_arn]),
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[self.table_objects_arn]
                ),
                iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.key.key_arn]),
                iam.PolicyStatement(
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_groups, f"{log_groups}:*"],
                ),
            ],
        )
        acknowledge_wildcard_resources(
            policy,
            [self.table_objects_arn, log_groups, f"{log_groups}:*"],
            "Compaction rewrites and expiry deletes the table's own files (named by Iceberg under the table's "
            "prefix); Glue writes its optimizer runs to the /aws-glue/iceberg* log groups it names itself.",
        )
        iceberg = glue.CfnTableOptimizer
        configurations = {
            "compaction": iceberg.TableOptimizerConfigurationProperty(
                enabled=True,
                role_arn=role.role_arn,
                compaction_configuration=iceberg.CompactionConfigurationProperty(
                    iceberg_configuration=iceberg.IcebergCompactionConfigurationProperty(strategy="sort")
                ),
            ),
            "retention": iceberg.TableOptimizerConfigurationProperty(
                enabled=True,
                role_arn=role.role_arn,
                retention_configuration=iceberg.RetentionConfigurationProperty(
                    iceberg_configuration=iceberg.IcebergRetentionConfigurationProperty(
                        snapshot_retention_period_in_days=config.lake.snapshot_retention_days,
                        number_of_snapshots_to_retain=1,
                        clean_expired_files=True,
                    )
                ),
            ),
            "orphan_file_deletion": iceberg.TableOptimizerConfigurationProperty(
                enabled=True,
                role_arn=role.role_arn,
                orphan_file_deletion_configuration=iceberg.OrphanFileDeletionConfigurationProperty(
                    iceberg_configuration=iceberg.IcebergConfigurationProperty(
                        location=f"{self.table_location}/", orphan_file_retention_period_in_days=3
                    )
                ),
            ),
        }
        for kind, settings in configurations.items():
            optimizer = glue.CfnTableOptimizer(
                self,
                f"Optimizer{kind.title().replace('_', '')}",
                catalog_id=Aws.ACCOUNT_ID,
                database_name=self.database_name,
                table_name=self.table_name,
                type=kind,
                table_optimizer_configuration=settings,
            )
            optimizer.add_resource_dependency(self.table)
            optimizer.node.add_dependency(policy)

    def _retention(self, config: LoglensConfig) -> None:
        """Once a day, Athena deletes the days past retention (no Lambda: a fixed statement)."""
        role = iam.Role(
            self,
            "RetentionRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="loglens lake: the daily Athena DELETE of rows past retention",
        )
        self.grant_query(self, role, write=True, construct_id="RetentionPolicy")
        scheduler.CfnSchedule(
            self,
            "RetentionDaily",
            description=f"loglens {config.stage}: delete lake rows older than {config.lake.retention_days} days",
            schedule_expression="cron(30 2 * * ? *)",
            schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn="arn:aws:scheduler:::aws-sdk:athena:startQueryExecution",
                role_arn=role.role_arn,
                input=json.dumps(
                    {
                        "QueryString": retention_statement(config.lake.retention_days, self.table_name),
                        "WorkGroup": self.workgroup_name,
                        "QueryExecutionContext": {"Database": self.database_name},
                    }
                ),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=3, maximum_event_age_in_seconds=3600
                ),
            ),
        )

    def grant_query(
        self, scope: Construct, grantee: iam.IRole, *, write: bool = False, construct_id: str = "LakeQuery"
    ) -> iam.Policy:
        """What running Athena queries on the table takes, and no more.

        Athena reads the table and writes results with the caller's credentials, so the caller needs
        the workgroup, the table's catalog entries and files, the results prefix and the key. `write`
        adds what a DELETE needs (committing new metadata, writing delete files).
        """
        athena_actions = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"]
        if not write:
            athena_actions.append("athena:StopQueryExecution")
        table_actions = ["s3:GetObject", *(["s3:PutObject", "s3:DeleteObject"] if write else [])]
        glue_actions = ["glue:GetDatabase", "glue:GetTable", *(["glue:UpdateTable"] if write else [])]
        results_objects = f"{self.results_bucket_arn}/{RESULTS_PREFIX}*"
        policy = iam.Policy(
            scope,  # the grantee's stack: the lake stack never depends on who queries it
            construct_id,
            roles=[grantee],
            statements=[
                iam.PolicyStatement(actions=athena_actions, resources=[self.workgroup_arn]),
                iam.PolicyStatement(actions=glue_actions, resources=self.glue_arns()),
                iam.PolicyStatement(
                    actions=["s3:ListBucket", "s3:GetBucketLocation"],
                    resources=[self.bucket_arn, self.results_bucket_arn],
                ),
                iam.PolicyStatement(actions=table_actions, resources=[self.table_objects_arn]),
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], resources=[results_objects]
                ),
                iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.key.key_arn]),
            ],
        )
        acknowledge_wildcard_resources(
            policy,
            [self.table_objects_arn, results_objects],
            "Athena reads the table's files (named by Iceberg under the table's prefix) and writes each "
            "query's result object under results/ with the caller's credentials; nothing else in either bucket.",
        )
        return policy


def _iceberg_table(location: str) -> glue.CfnTable.IcebergTableInputProperty:
    columns = lake_columns()
    time_id = column(TIME_COLUMN).field_id
    return glue.CfnTable.IcebergTableInputProperty(
        location=location,
        schema=glue.CfnTable.IcebergSchemaProperty(
            type="struct",
            schema_id=0,
            fields=[
                glue.CfnTable.IcebergStructFieldProperty(
                    id=c.field_id, name=c.name, type=c.iceberg_type, required=c.required, doc=c.description[:255]
                )
                for c in columns
            ],
        ),
        partition_spec=glue.CfnTable.IcebergPartitionSpecProperty(
            spec_id=0,
            fields=[
                glue.CfnTable.IcebergPartitionFieldProperty(
                    name=f"{TIME_COLUMN}_{PARTITION_TRANSFORM}",
                    source_id=time_id,
                    transform=PARTITION_TRANSFORM,
                    field_id=_PARTITION_FIELD_ID,
                )
            ],
        ),
        write_order=glue.CfnTable.IcebergSortOrderProperty(
            order_id=1,
            fields=[
                glue.CfnTable.IcebergSortFieldProperty(
                    source_id=column(name).field_id, transform="identity", direction="asc", null_order="nulls-last"
                )
                for name in SORT_COLUMNS
            ],
        ),
        properties={
            "write.format.default": "parquet",
            "write.parquet.compression-codec": PARQUET_COMPRESSION,
            "format-version": "2",
        },
    )


class LakeDeliveryStream(Construct):
    """The Firehose stream into the table, with the lakegate function as its transformation."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        storage: LakeStorage,
        gate_function_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        removal = removal_policy(config)
        lake = config.lake
        self.log_group = log_group(self, "DeliveryLogs", config)
        log_stream = logs.LogStream(self, "IcebergDelivery", log_group=self.log_group, removal_policy=removal)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
            description="loglens Firehose: write the lake's Iceberg table and its errors",
        )
        error_objects = f"{storage.bucket_arn}/{ERRORS_PREFIX}*"
        policy = iam.Policy(
            self,
            "RolePolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"], resources=storage.glue_arns()
                ),
                iam.PolicyStatement(
                    actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                    resources=[storage.bucket_arn],
                ),
                iam.PolicyStatement(
                    actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    resources=[storage.table_objects_arn, error_objects],
                ),
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[storage.key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                    resources=[gate_function_arn],
                ),
                iam.PolicyStatement(
                    actions=["logs:PutLogEvents"],
                    resources=[
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{self.log_group.log_group_name}:log-stream:{log_stream.log_stream_name}",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
            ],
        )
        acknowledge_wildcard_resources(
            policy,
            [storage.table_objects_arn, error_objects],
            "Firehose names the table's data and metadata files itself (Iceberg, under the table's prefix) and "
            "its error objects under errors/; the grant stops at those two prefixes.",
        )
        self.stream = firehose.CfnDeliveryStream(
            self,
            "Stream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=(
                firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(key_type="AWS_OWNED_CMK")
            ),
            iceberg_destination_configuration=firehose.CfnDeliveryStream.IcebergDestinationConfigurationProperty(
                catalog_configuration=firehose.CfnDeliveryStream.CatalogConfigurationProperty(
                    catalog_arn=storage.catalog_arn
                ),
                role_arn=role.role_arn,
                # Upserts on the row's key need the stream's update mode (append_only would skip the
                # unique keys and store a redelivered record twice).
                append_only=False,
                destination_table_configuration_list=[
                    firehose.CfnDeliveryStream.DestinationTableConfigurationProperty(
                        destination_database_name=storage.database_name,
                        destination_table_name=storage.table_name,
                        unique_keys=list(UNIQUE_KEYS),
                        s3_error_output_prefix=LAKE_ERROR_PREFIX,
                    )
                ],
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="Lambda",
                            parameters=[
                                _parameter("LambdaArn", gate_function_arn),
                                _parameter("BufferSizeInMBs", str(PROCESSOR_BUFFER_MIB)),
                                _parameter("BufferIntervalInSeconds", str(PROCESSOR_BUFFER_SECONDS)),
                                _parameter("NumberOfRetries", "3"),
                            ],
                        )
                    ],
                ),
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=lake.buffer_interval_seconds, size_in_m_bs=lake.buffer_size_mib
                ),
                retry_options=firehose.CfnDeliveryStream.RetryOptionsProperty(duration_in_seconds=3600),
                # Records that fail delivery (or the gate) are written whole to S3; delivered rows are not copied.
                s3_backup_mode="FailedDataOnly",
                s3_configuration=firehose.CfnDeliveryStream.S3DestinationConfigurationProperty(
                    bucket_arn=storage.bucket_arn,
                    role_arn=role.role_arn,
                    error_output_prefix=LAKE_ERROR_PREFIX,
                    compression_format="GZIP",
                    buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                        interval_in_seconds=300, size_in_m_bs=5
                    ),
                    encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                        kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                            awskms_key_arn=storage.key.key_arn
                        )
                    ),
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
            ),
        )
        # Firehose checks its role can read the table when the stream is created.
        self.stream.node.add_dependency(policy)
        self.stream_name = self.stream.ref
        self.stream_arn = self.stream.attr_arn


def _parameter(name: str, value: str) -> firehose.CfnDeliveryStream.ProcessorParameterProperty:
    return firehose.CfnDeliveryStream.ProcessorParameterProperty(parameter_name=name, parameter_value=value)
