"""A Glue database and table over archive/ so Athena can query archived logs without a crawler.

Layout written by the archive job: ``archive/day=YYYY-MM-DD/*.json.gz`` (gzip JSON lines, one
object per row); a manifest named with a leading underscore (``_manifest.json``) sits beside
them and Athena skips it. Partition projection computes the days from the query's predicate, so
no partition is ever registered and a query must filter on ``day`` to stay cheap.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_glue as glue
from constructs import Construct

from infra.components.log_storage import ARCHIVE_PREFIX
from infra.config import LoglensConfig
from infra.log_columns import athena_columns

PROJECTION_START_DAY = "2024-01-01"


class ArchiveCatalog(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig, bucket_name: str) -> None:
        super().__init__(scope, construct_id)
        self.database_name = f"loglens_{config.stage}"
        self.table_name = "archived_logs"
        location = f"s3://{bucket_name}/{ARCHIVE_PREFIX}"

        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description=f"loglens {config.stage}: archived logs (Athena)"
            ),
        )
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=self.table_name,
                description="Log partitions archived from PostgreSQL, one folder per UTC day",
                table_type="EXTERNAL_TABLE",
                partition_keys=[glue.CfnTable.ColumnProperty(name="day", type="string")],
                parameters={
                    "classification": "json",
                    "compressionType": "gzip",
                    "projection.enabled": "true",
                    "projection.day.type": "date",
                    "projection.day.format": "yyyy-MM-dd",
                    "projection.day.range": f"{PROJECTION_START_DAY},NOW",
                    "projection.day.interval": "1",
                    "projection.day.interval.unit": "DAYS",
                    "storage.location.template": f"{location}day=${{day}}/",
                },
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    columns=[glue.CfnTable.ColumnProperty(name=name, type=kind) for name, kind in athena_columns()],
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        parameters={"ignore.malformed.json": "false", "case.insensitive": "false"},
                    ),
                ),
            ),
        )
        self.table.add_resource_dependency(database)
