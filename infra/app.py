"""Assembling the loglens app: configuration → stacks → cdk-nag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import LoglensConfig, load_config
from infra.stacks.analysis import AnalysisStack
from infra.stacks.console import ConsoleStack
from infra.stacks.data import DataStack
from infra.stacks.ingest import IngestStack
from infra.stacks.maintenance import MaintenanceStack
from infra.stacks.network import NetworkStack
from infra.stacks.observability import ObservabilityStack


@dataclass(frozen=True)
class LoglensApp:
    config: LoglensConfig
    network: NetworkStack
    data: DataStack
    ingest: IngestStack
    maintenance: MaintenanceStack
    analysis: AnalysisStack
    console: ConsoleStack
    observability: ObservabilityStack

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [self.network, self.data, self.ingest, self.maintenance, self.analysis, self.console, self.observability]


def build_app(app: cdk.App, *, nag: bool = True) -> LoglensApp:
    """Add every loglens stack for the stage chosen in context to `app`.

    With nag=True, cdk-nag's AwsSolutions pack runs as a CDK validation plugin during synth and
    any finding not acknowledged in code fails the synth.
    """
    config = load_config(app.node.try_get_context)
    # Region only, no account: the templates stay account-agnostic and synth makes no AWS lookups.
    env = cdk.Environment(region=config.region)

    def props(part: str) -> dict[str, Any]:
        return {
            "config": config,
            "env": env,
            "stack_name": config.stack_name(part),
            "description": f"loglens {config.stage}: {part.lower()}",
        }

    network = NetworkStack(app, config.stack_name("Network"), **props("Network"))
    data = DataStack(app, config.stack_name("Data"), network=network, **props("Data"))
    ingest = IngestStack(app, config.stack_name("Ingest"), network=network, data=data, **props("Ingest"))
    maintenance = MaintenanceStack(
        app, config.stack_name("Maintenance"), network=network, data=data, **props("Maintenance")
    )
    analysis = AnalysisStack(app, config.stack_name("Analysis"), network=network, data=data, **props("Analysis"))
    console = ConsoleStack(
        app,
        config.stack_name("Console"),
        network=network,
        functions={"query": analysis.query.function.function_arn, "ask": analysis.ask.function.function_arn},
        **props("Console"),
    )
    observability = ObservabilityStack(
        app,
        config.stack_name("Observability"),
        data=data,
        ingest=ingest,
        maintenance=maintenance,
        analysis=analysis,
        **props("Observability"),
    )
    built = LoglensApp(config, network, data, ingest, maintenance, analysis, console, observability)
    for stack in built.stacks:
        for key, value in (("project", "loglens"), ("stage", config.stage)):
            # The target group's schema has no Tags property although CDK offers to tag it.
            cdk.Tags.of(stack).add(key, value, exclude_resource_types=["AWS::RDS::DBProxyTargetGroup"])
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return built
