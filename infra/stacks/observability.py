"""Observability stack: the alarm topic, the alarms and the dashboard (deployed last; reads every other stack)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.components.observability import AlarmTopic, PipelineAlarms, PipelineDashboard, WatchedResources
from infra.config import LoglensConfig
from infra.stacks.analysis import AnalysisStack
from infra.stacks.data import DataStack
from infra.stacks.ingest import IngestStack
from infra.stacks.maintenance import MaintenanceStack


class ObservabilityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        data: DataStack,
        ingest: IngestStack,
        maintenance: MaintenanceStack,
        analysis: AnalysisStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        assert ingest.load is not None, "the observability stack watches a stage with a database"
        lake_gate = {"lakegate": ingest.lake_gate.function} if ingest.lake_delivery is not None else {}
        watched = WatchedResources(
            functions={
                "collect": ingest.collect.function,
                "load": ingest.load.function,
                **lake_gate,
                "maintain": maintenance.maintain.function,
                "archive": maintenance.archive.function,
                "ask": analysis.ask.function,
                **({"query": analysis.query.function} if analysis.query is not None else {}),
                **({"alerts": analysis.alerts.function} if analysis.alerts is not None else {}),
                "migrate": data.migrations.handler.function,
            },
            ingest_api=ingest.api.api,
            query_api=analysis.api.api,
            load_queue=data.storage.load_queue,
            dead_letter_queue=data.storage.dead_letter_queue,
            database=data.database.instance,
            proxy=data.database.proxy,
            delivery_stream_name=_raw_stream(ingest),
        )
        self.topic = AlarmTopic(self, "AlarmTopic", config=config)
        self.alarms = PipelineAlarms(self, "Alarms", config=config, watched=watched, topic=self.topic.topic)
        self.dashboard = PipelineDashboard(self, "Dashboard", config=config, watched=watched)
        CfnOutput(self, "AlarmTopicArn", value=self.topic.topic.topic_arn)


def _raw_stream(ingest: IngestStack) -> str:
    assert ingest.delivery is not None, "a stage with a database has the raw stream"
    return ingest.delivery.stream_name
