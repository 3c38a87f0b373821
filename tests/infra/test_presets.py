"""Capacity presets (small, medium, large): what each sets, that the stages map onto them, and what they
synthesize to; the alarms of issue #14 and the asynchronous retries of every function."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.app import build_app
from infra.components.functions import ASYNC_RETRIES
from infra.config import (
    FUNCTION_NAMES,
    PRESETS,
    STORAGE_HEADROOM,
    STORAGE_MIB_PER_MILLION_ROWS,
    ConfigError,
    LoglensConfig,
    load_config,
)
from tests.infra.conftest import Synthesized, cdk_json_context


def _context(preset: str | None, **stage: Any) -> dict[str, Any]:
    """cdk.json's context with a stage 'qa' on `preset` (and overrides)."""
    context = copy.deepcopy(cdk_json_context())
    context["stage"] = "qa"
    context["loglens"]["stages"]["qa"] = {**({"preset": preset} if preset else {}), **stage}
    return context


def _config(preset: str | None, **stage: Any) -> LoglensConfig:
    return load_config(_context(preset, **stage).get)


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_holds_its_volume_for_the_retention_it_keeps(preset: str) -> None:
    config = _config(preset)
    kept_gib = config.capacity.records_per_day * config.retention.db_retention_days / 1e6
    kept_gib *= STORAGE_MIB_PER_MILLION_ROWS / 1024
    assert config.database.max_allocated_storage_gib >= kept_gib * STORAGE_HEADROOM
    # the free-storage alarm fires only after storage autoscaling (at 10% free) could not help
    assert config.alarms.free_storage_gib * 10 < config.database.allocated_storage_gib


def test_presets_grow_together() -> None:
    small, medium, large = (_config(p) for p in PRESETS)
    assert [c.capacity.records_per_day for c in (small, medium, large)] == [5_000_000, 50_000_000, 200_000_000]
    assert (small.database.iops, medium.database.iops, large.database.iops) == (None, 12_000, 20_000)
    assert small.database.allocated_storage_gib < 400 <= medium.database.allocated_storage_gib
    for smaller, bigger in ((small, medium), (medium, large)):
        assert smaller.database.max_allocated_storage_gib < bigger.database.max_allocated_storage_gib
        assert smaller.functions.load_max_concurrency < bigger.functions.load_max_concurrency
        assert smaller.functions.archive_workers < bigger.functions.archive_workers
        assert smaller.firehose.buffer_size_mib < bigger.firehose.buffer_size_mib
    # small deployments get small, frequent objects; large ones fill by size within seconds
    assert (small.firehose.buffer_interval_seconds, medium.firehose.buffer_interval_seconds) == (0, 0)
    assert large.firehose.buffer_interval_seconds <= 5
    views = [c.schedules.views for c in (small, medium, large)]
    assert views == ["rate(1 minute)", "rate(2 minutes)", "rate(5 minutes)"]
    # ingest-friendly PostgreSQL: fewer checkpoints, vacuum after a fixed number of appended rows
    for config in (small, medium, large):
        params = config.database.parameters
        assert params["checkpoint_timeout"] == "900" and params["autovacuum_vacuum_insert_scale_factor"] == "0"
        assert int(params["max_wal_size"]) >= 4096


def test_the_stages_map_onto_presets_and_dev_stays_cheap() -> None:
    dev = load_config({**cdk_json_context(), "stage": "dev"}.get)
    prod = load_config({**cdk_json_context(), "stage": "prod"}.get)
    assert (dev.preset, prod.preset) == ("small", "medium")
    assert dev.database.instance_class == "t4g.medium" and not dev.database.multi_az
    assert dev.database.allocated_storage_gib == 20
    assert prod.database == _config("medium").database


@pytest.mark.parametrize(
    ("preset", "stage", "message"),
    [
        (None, {}, "must name its capacity preset"),
        ("huge", {}, "must name its capacity preset"),
        ("small", {"database": {"iops": 12000}}, "need allocated_storage_gib >= 400"),
        ("medium", {"database": {"iops": 64001}}, "database.iops"),
        ("medium", {"database": {"storage_throughput_mibps": 3001}}, "at most 0.25 per provisioned IOPS"),
        ("small", {"capacity": {"records_per_day": 20_000_000}}, "cannot hold 20,000,000 records a day"),
        ("small", {"alarms": {"free_storage_gib": 10}}, "under 10% of database.allocated_storage_gib"),
        ("small", {"functions": {"archive_workers": 0}}, "functions.archive_workers"),
    ],
)
def test_impossible_capacity_settings_stop_the_synth(preset: str | None, stage: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(preset, **stage)


# -- what the large preset synthesizes to -----------------------------------------------------------------


@pytest.fixture(scope="module")
def large(deps_layer: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    outdir = tmp_path_factory.mktemp("cdk.out.large")
    context = _context("large")
    context["aws:cdk:disable-asset-staging"] = True
    app = cdk.App(context=context, outdir=str(outdir))
    loglens = build_app(app, nag=False)
    app.synth()
    parts = {stack.stack_name.removeprefix("loglens-qa-"): stack for stack in loglens.stacks}
    raw = {
        part: json.loads((outdir / f"{stack.artifact_id}.template.json").read_text(encoding="utf-8"))
        for part, stack in parts.items()
    }
    yield Synthesized(app, loglens, outdir, {p: Template.from_json(t) for p, t in raw.items()}, raw, 0.0)


def test_large_sizes_the_database_storage_and_parameters(large: Synthesized) -> None:
    database = large.loglens.config.database
    large.templates["data"].has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "DBInstanceClass": "db.r7g.2xlarge",
            "StorageType": "gp3",
            "AllocatedStorage": str(database.allocated_storage_gib),
            "MaxAllocatedStorage": database.max_allocated_storage_gib,
            "Iops": 20_000,
            "StorageThroughput": 1_000,
            "MultiAZ": True,
        },
    )
    large.templates["data"].has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {
            "Parameters": Match.object_like(
                {
                    "max_wal_size": "32768",
                    "checkpoint_timeout": "900",
                    "autovacuum_vacuum_insert_threshold": "2000000",
                    "autovacuum_vacuum_insert_scale_factor": "0",
                    "rds.force_ssl": "1",
                }
            )
        },
    )


def test_large_sizes_delivery_loading_and_the_schedules(large: Synthesized) -> None:
    large.templates["ingest"].has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {"BufferingHints": {"IntervalInSeconds": 5, "SizeInMBs": 8}}
            )
        },
    )
    large.templates["ingest"].has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"BatchSize": 2, "ScalingConfig": {"MaximumConcurrency": 10}}
    )
    rules = {
        r["Properties"]["Targets"][0]["Input"]: r["Properties"]["ScheduleExpression"]
        for _, _, r in large.all_resources("AWS::Events::Rule")
        if '"task":"detect"' not in r["Properties"]["Targets"][0]["Input"]  # alerts' own schedules, not a preset's
        and '"task":"digest"' not in r["Properties"]["Targets"][0]["Input"]
    }
    assert rules == {
        '{"task":"partitions"}': "cron(15 0 * * ? *)",
        '{"task":"views"}': "rate(5 minutes)",
        '{"task":"archive"}': "rate(1 hour)",
    }
    functions = _functions(large)
    assert functions["archive"]["ReservedConcurrentExecutions"] == 4
    assert functions["archive"]["Environment"]["Variables"]["ARCHIVE_WORKERS"] == "4"
    assert functions["archive"]["MemorySize"] == 3008
    assert functions["load"]["ReservedConcurrentExecutions"] == 10


# -- alarms and retries (the session's dev synthesis) ------------------------------------------------------


def _alarm(synth: Synthesized, metric: str) -> dict[str, Any]:
    found = [
        a["Properties"]
        for _, _, a in synth.all_resources("AWS::CloudWatch::Alarm")
        if a["Properties"].get("MetricName") == metric
        or any(
            m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == metric
            for m in a["Properties"].get("Metrics", [])
        )
    ]
    assert found, f"no alarm on {metric}"
    return found[0]


def test_capacity_alarms_watch_storage_delivery_apis_and_the_jobs(synthesized: Synthesized) -> None:
    config = synthesized.loglens.config
    storage = _alarm(synthesized, "FreeStorageSpace")
    assert (storage["ComparisonOperator"], storage["Threshold"]) == (
        "LessThanThreshold",
        config.alarms.free_storage_gib * 1024**3,
    )
    assert _alarm(synthesized, "ThrottledRecords")["Namespace"] == "AWS/Firehose"
    near_limit = _alarm(synthesized, "BytesPerSecondLimit")
    assert near_limit["Threshold"] == config.alarms.firehose_bytes_percent
    assert any("incoming / 300" in m.get("Expression", "") for m in near_limit["Metrics"])
    five_xx = [
        a["Properties"] for _, _, a in synthesized.all_resources("AWS::CloudWatch::Alarm")
        if a["Properties"].get("MetricName") == "5XXError"
    ]  # fmt: skip
    assert {json.dumps(a["Dimensions"]) for a in five_xx} and len(five_xx) == 2  # the ingest and the query API
    assert all(a["Threshold"] == config.alarms.api_5xx_per_5_minutes for a in five_xx)
    backlog = _alarm(synthesized, "ArchiveBacklogSeconds")
    assert (backlog["Namespace"], backlog["Threshold"], backlog["Dimensions"]) == (
        "loglens",
        86_400,
        [{"Name": "service", "Value": "archive"}],
    )
    assert _alarm(synthesized, "RollupHoursPending")["Dimensions"] == [{"Name": "service", "Value": "maintain"}]
    for _, _, alarm in synthesized.all_resources("AWS::CloudWatch::Alarm"):  # every one reaches the topic
        assert "AlarmTopic" in json.dumps(alarm["Properties"]["AlarmActions"])


def test_every_function_retries_asynchronous_events_as_chosen(synthesized: Synthesized) -> None:
    names = {json.dumps({"Ref": logical_id}): module for module, logical_id in _function_ids(synthesized).items()}
    configs = {
        names[json.dumps(c["Properties"]["FunctionName"])]: c["Properties"]
        for _, _, c in synthesized.all_resources("AWS::Lambda::EventInvokeConfig")
    }
    assert set(configs) == set(FUNCTION_NAMES)
    for module, props in configs.items():
        assert props["MaximumRetryAttempts"] == ASYNC_RETRIES[module] == 0, module
        assert props["MaximumEventAgeInSeconds"] == 3600
        assert props["Qualifier"] == "$LATEST"
    # EventBridge retries deliveries (not failed runs); a views run that could not start within 5 minutes is dropped
    for _, _, rule in synthesized.all_resources("AWS::Events::Rule"):
        (target,) = rule["Properties"]["Targets"]
        age = 300 if target["Input"] == '{"task":"views"}' else 3600
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": age}


def test_the_archive_may_invoke_only_itself(synthesized: Synthesized) -> None:
    archive_id = _function_ids(synthesized)["archive"]
    statements = [
        statement
        for _, _, policy in synthesized.all_resources("AWS::IAM::Policy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in json.dumps(statement["Action"])
    ]
    archive = [s for s in statements if archive_id in json.dumps(s["Resource"])]
    assert archive == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [archive_id, "Arn"]}}
    ]


def _functions(synth: Synthesized) -> dict[str, dict[str, Any]]:
    out = {}
    for _, _, function in synth.all_resources("AWS::Lambda::Function"):
        module = function["Properties"]["Handler"].removesuffix(".handler")
        if module in FUNCTION_NAMES:
            out[module] = function["Properties"]
    return out


def _function_ids(synth: Synthesized) -> dict[str, str]:
    out = {}
    for _, logical_id, function in synth.all_resources("AWS::Lambda::Function"):
        module = function["Properties"]["Handler"].removesuffix(".handler")
        if module in FUNCTION_NAMES:
            out[module] = logical_id
    return out
