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
        watched = WatchedResources(
            functions={
                "collect": ingest.collect.function,
                "load": ingest.load.function,
                "maintain": maintenance.maintain.function,
                "archive": maintenance.archive.function,
                "ask": analysis.ask.function,
                "alerts": analysis.alerts.function,
                "migrate": data.migrations.handler.function,
            },
            ingest_api=ingest.api.api,
            query_api=analysis.api.api,
            load_queue=data.storage.load_queue,
            dead_letter_queue=data.storage.dead_letter_queue,
            database=data.database.instance,
            proxy=data.database.proxy,
            delivery_stream_name=ingest.delivery.stream_name,
        )
        self.topic = AlarmTopic(self, "AlarmTopic", config=config)
        self.alarms = PipelineAlarms(self, "Alarms", config=config, watched=watched, topic=self.topic.topic)
        self.dashboard = PipelineDashboard(self, "Dashboard", config=config, watched=watched)
        CfnOutput(self, "AlarmTopicArn", value=self.topic.topic.topic_arn)
