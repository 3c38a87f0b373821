"""Assembling the loglens app: configuration → stacks → cdk-nag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import LoglensConfig, load_config
from infra.stacks.analysis import AnalysisStack
from infra.stacks.console import ConsoleStack
from infra.stacks.data import DataStack
from infra.stacks.ingest import IngestStack
from infra.stacks.lake import LakeStack
from infra.stacks.maintenance import MaintenanceStack
from infra.stacks.network import NetworkStack
from infra.stacks.observability import ObservabilityStack


@dataclass(frozen=True)
class LoglensApp:
    config: LoglensConfig
    # None on a lake-only stage (no database, no VPC, nothing to maintain or to watch in RDS).
    network: NetworkStack | None
    data: DataStack | None
    ingest: IngestStack
    maintenance: MaintenanceStack | None
    analysis: AnalysisStack
    observability: ObservabilityStack | None
    lake: LakeStack | None = None
    # The web console's site and sign-in; None on a lake-only stage (its query API reads PostgreSQL).
    console: ConsoleStack | None = None

    @property
    def stacks(self) -> list[cdk.Stack]:
        ordered = [
            self.network,
            self.data,
            self.lake,
            self.ingest,
            self.maintenance,
            self.analysis,
            self.console,
            self.observability,
        ]
        return [stack for stack in ordered if stack is not None]


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

    lake = LakeStack(app, config.stack_name("Lake"), **props("Lake")) if config.lake.enabled else None
    built = (
        _lake_only(app, config, props, lake) if not config.has_database else _with_database(app, config, props, lake)
    )
    for stack in built.stacks:
        for key, value in (("project", "loglens"), ("stage", config.stage)):
            # The target group's schema has no Tags property although CDK offers to tag it.
            cdk.Tags.of(stack).add(key, value, exclude_resource_types=["AWS::RDS::DBProxyTargetGroup"])
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return built


Props = Callable[[str], dict[str, Any]]


def _lake_only(app: cdk.App, config: LoglensConfig, props: Props, lake: LakeStack | None) -> LoglensApp:
    """The lake-only preset: collect → Firehose → Iceberg, ask → Athena; no RDS, RDS Proxy or VPC."""
    ingest = IngestStack(app, config.stack_name("Ingest"), network=None, data=None, lake=lake, **props("Ingest"))
    analysis = AnalysisStack(
        app, config.stack_name("Analysis"), network=None, data=None, lake=lake, **props("Analysis")
    )
    return LoglensApp(config, None, None, ingest, None, analysis, None, lake)


def _with_database(app: cdk.App, config: LoglensConfig, props: Props, lake: LakeStack | None) -> LoglensApp:
    network = NetworkStack(app, config.stack_name("Network"), **props("Network"))
    data = DataStack(app, config.stack_name("Data"), network=network, **props("Data"))
    ingest = IngestStack(app, config.stack_name("Ingest"), network=network, data=data, lake=lake, **props("Ingest"))
    maintenance = MaintenanceStack(
        app, config.stack_name("Maintenance"), network=network, data=data, lake=lake, **props("Maintenance")
    )
    analysis = AnalysisStack(
        app, config.stack_name("Analysis"), network=network, data=data, lake=lake, **props("Analysis")
    )
    assert analysis.query is not None  # a stage with a database has the query function
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
    return LoglensApp(config, network, data, ingest, maintenance, analysis, observability, lake, console)
