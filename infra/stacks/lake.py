"""Lake stack: the lake's state — its key, buckets, Glue table, Athena workgroup and upkeep (infra/components/lake.py).

Like the data stack, it outlives redeploys of the compute around it and is retained outside dev.
On a lake-only stage it is the only stateful stack: there is no network and no data stack.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.components.lake import LakeStorage
from infra.config import LoglensConfig


class LakeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = LakeStorage(self, "Lake", config=config)
        CfnOutput(self, "LakeBucketName", value=self.storage.bucket_name)
        CfnOutput(
            self,
            "LakeTable",
            value=f"{self.storage.database_name}.{self.storage.table_name}",
            description="The Iceberg table (Athena: filter on created_at so only those days are read)",
        )
        CfnOutput(self, "AthenaWorkgroup", value=self.storage.workgroup_name)
        CfnOutput(self, "AthenaResultsBucketName", value=self.storage.results_bucket_name)
