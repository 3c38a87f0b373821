"""Ingest stack: the ingest API, the collect and load functions and the Firehose stream.

Stateless: redeploying or even replacing it loses nothing, because accepted records rest in
S3 and the queue (data stack) until the load function has stored them.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.components.common import removal_policy, secret_name
from infra.components.database import WRITER_LOGIN
from infra.components.delivery import RawDeliveryStream
from infra.components.functions import LoglensFunction
from infra.components.lake import LakeDeliveryStream
from infra.components.log_storage import RAW_PREFIX, REJECTED_PREFIX
from infra.components.rest_api import LoglensRestApi
from infra.config import LoglensConfig
from infra.nag import acknowledge
from infra.stacks.data import DataStack
from infra.stacks.lake import LakeStack
from infra.stacks.network import NetworkStack

INGEST_ROUTES = (
    ("/api/v1/logs", "POST"),
    ("/api/v1/logs/batch", "POST"),
    ("/otlp/v1/logs", "POST"),
)
# Without a key, as under `loglens dev` and in the OpenAPI document: liveness for load balancers and
# uptime checks, and the API's own description, which clients and tools read before they have a key.
KEYLESS_ROUTES = (
    ("/api/v1/health", "GET"),
    ("/api/v1/openapi.json", "GET"),
)


class IngestStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        network: NetworkStack | None,
        data: DataStack | None,
        lake: LakeStack | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # A lake-only stage has no network and no data stack: collect writes to the lake stream, no load.
        placement = network.network.function_placement() if network is not None else {}

        # Seals collect's lines so load can tell them from lines any FireLens sender could forge
        # (loglens.ingest.envelope). Only collect and load may read it.
        self.envelope_key = secretsmanager.Secret(
            self,
            "EnvelopeKey",
            secret_name=secret_name(config, "envelope-key"),
            description=f"loglens {config.stage}: HMAC key collect seals its Firehose lines with",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal_policy(config),
        )
        acknowledge(
            self.envelope_key,
            "AwsSolutions-SMG4",
            "Rotating it only costs speed: lines sealed with the old key and loaded after the switch are "
            "validated in full instead of trusted, so ops rotate it by hand in a quiet hour (docs/deploy.md).",
        )

        self.lake_delivery = self._lake_delivery(config, lake) if lake is not None else None
        self.delivery = (
            RawDeliveryStream(
                self, "Delivery", config=config, bucket_arn=data.storage.raw_bucket_arn, key=data.storage.key
            )
            if data is not None
            else None
        )
        stream_name, stream_arn = self._collect_stream()
        # Outside the VPC: collect calls only Firehose and Secrets Manager (both public AWS endpoints, reached
        # with its role's two grants), so the VPC would add ENIs and two interface endpoints for nothing.
        self.collect = LoglensFunction(
            self,
            "Collect",
            config=config,
            module="collect",
            description="loglens: validate incoming logs and send them to Firehose",
            environment={
                "FIREHOSE_STREAM_NAME": stream_name,
                "LOGLENS_CORS_ORIGIN": config.api.cors_allow_origin,
                "LOGLENS_ENVELOPE_SECRET_ARN": self.envelope_key.secret_arn,
                **({"LOGLENS_DELIVERY": "lake"} if self.delivery is None else {}),
            },
        )
        self.collect.grant(["firehose:PutRecordBatch"], [stream_arn])
        self.collect.grant(["secretsmanager:GetSecretValue"], [self.envelope_key.secret_arn])

        self.api = LoglensRestApi(
            self,
            "IngestApi",
            config=config,
            name="ingest",
            description="loglens ingest API",
            rate_limit=config.api.ingest_rate_limit,
            burst_limit=config.api.ingest_burst_limit,
            quota_per_day=config.api.ingest_quota_per_day,
            stage_rate_limit=config.api.ingest_stage_rate_limit,
            stage_burst_limit=config.api.ingest_stage_burst_limit,
            # Everything arrives base64-encoded: gzip bodies (Content-Encoding) and OTLP protobuf stay intact.
            binary_media_types=["*/*"],
            cors_allow_origin=config.api.cors_allow_origin,
        )
        for path, method in INGEST_ROUTES:
            self.api.add_route(
                path,
                method,
                self.collect.function,
                # OTLP/HTTP requires the content type (JSON or protobuf); refuse its absence at the edge.
                required_headers=("Content-Type",) if path.startswith("/otlp/") else (),
            )
        keyless_reason = (
            "Liveness and the OpenAPI document read no data and hold no secret (health: a status and the "
            "version; the document: the public routes); the stage throttle still applies."
        )
        for path, method in KEYLESS_ROUTES:
            route = self.api.add_route(path, method, self.collect.function, api_key_required=False)
            acknowledge(route, "AwsSolutions-APIG4", keyless_reason)
            acknowledge(route, "AwsSolutions-COG4", keyless_reason)

        self.load = self._load(config, data, placement) if data is not None else None
        self._outputs(config)

    def _lake_delivery(self, config: LoglensConfig, lake: LakeStack) -> LakeDeliveryStream:
        """The lakegate function and the Iceberg stream it guards (infra/components/lake.py)."""
        storage = lake.storage
        # Outside the VPC on every stage: it calls Secrets Manager once per cold start and nothing else.
        self.lake_gate = LoglensFunction(
            self,
            "LakeGate",
            config=config,
            module="lakegate",
            description="loglens: validate and redact what enters the lake (Firehose transformation)",
            environment={
                "LAKE_DATABASE": storage.database_name,
                "LAKE_TABLE": storage.table_name,
                "LOGLENS_ENVELOPE_SECRET_ARN": self.envelope_key.secret_arn,
            },
        )
        self.lake_gate.grant(["secretsmanager:GetSecretValue"], [self.envelope_key.secret_arn])
        return LakeDeliveryStream(
            self, "LakeDelivery", config=config, storage=storage, gate_function_arn=self.lake_gate.function.function_arn
        )

    def _collect_stream(self) -> tuple[str, str]:
        if self.delivery is not None:
            return self.delivery.stream_name, self.delivery.stream_arn
        assert self.lake_delivery is not None, "a stage without a database must have the lake"
        return self.lake_delivery.stream_name, self.lake_delivery.stream_arn

    def _load(self, config: LoglensConfig, data: DataStack, placement: dict[str, Any]) -> LoglensFunction:
        storage = data.storage
        database = data.database
        lake = self.lake_delivery
        load = LoglensFunction(
            self,
            "Load",
            config=config,
            module="load",
            description="loglens: store raw Firehose objects in PostgreSQL",
            environment={
                "RAW_BUCKET": storage.raw_bucket_name,
                "DLQ_URL": storage.dead_letter_queue.queue_url,
                "LOGLENS_ENVELOPE_SECRET_ARN": self.envelope_key.secret_arn,
                **database.connection_environment(WRITER_LOGIN),
                **({"LAKE_STREAM_NAME": lake.stream_name} if lake is not None else {}),
            },
            reserved_concurrency=config.functions.load_reserved_concurrency,
            **placement,
        )
        if lake is not None:
            # With PostgreSQL, the lake gets what load validated (loglens.lake.forward).
            load.grant(["firehose:PutRecordBatch"], [lake.stream_arn])
        load.grant(
            ["s3:GetObject"],
            [f"{storage.raw_bucket_arn}/{RAW_PREFIX}*"],
            wildcard_reason="load reads the objects Firehose writes under raw/, whose keys it learns from S3 events.",
        )
        load.grant(
            ["s3:PutObject"],
            [f"{storage.raw_bucket_arn}/{REJECTED_PREFIX}*"],
            wildcard_reason="load writes one rejected/ object per raw object with records that failed validation.",
        )
        load.grant(["kms:Decrypt", "kms:GenerateDataKey"], [storage.key.key_arn])
        load.grant(["secretsmanager:GetSecretValue"], [self.envelope_key.secret_arn])
        database.grant_connect(load.role, WRITER_LOGIN)
        load.function.add_event_source(
            event_sources.SqsEventSource(
                storage.load_queue,
                batch_size=config.functions.load_batch_size,
                report_batch_item_failures=True,
                max_concurrency=config.functions.load_max_concurrency,
            )
        )
        return load

    def _outputs(self, config: LoglensConfig) -> None:
        stream_name, stream_arn = self._collect_stream()
        # FireLens senders write where collect writes: the raw stream, or a lake-only stage's lake stream.
        sender_policy = (
            self.delivery.sender_policy
            if self.delivery is not None
            else iam.ManagedPolicy(
                self,
                "LakeSenderPolicy",
                description=(
                    f"loglens {config.stage}: send records to the loglens lake stream "
                    "(attach to ECS task roles that use FireLens)"
                ),
                statements=[
                    iam.PolicyStatement(
                        actions=["firehose:PutRecord", "firehose:PutRecordBatch"], resources=[stream_arn]
                    )
                ],
            )
        )
        CfnOutput(self, "IngestApiUrl", value=self.api.api.url, description="Base URL of the ingest API")
        CfnOutput(
            self,
            "IngestUsagePlanId",
            value=self.api.usage_plan.usage_plan_id,
            description="Attach app API keys to this usage plan (docs/deploy.md)",
        )
        CfnOutput(
            self,
            "DeliveryStreamName",
            value=stream_name,
            description="Firehose stream for FireLens (kinesis_firehose output, delivery_stream)",
        )
        CfnOutput(
            self,
            "FireLensSenderPolicyArn",
            value=sender_policy.managed_policy_arn,
            description="Attach to ECS task roles that ship logs through FireLens",
            export_name=f"loglens-{config.stage}-firelens-sender-policy-arn",
        )
