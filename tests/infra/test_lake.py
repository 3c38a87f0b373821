"""The lake in CDK: the Iceberg table and its upkeep, the Firehose Iceberg stream, Athena, and the lake-only preset.

The session's app (stage dev) has the lake beside PostgreSQL; the lake-only stage is synthesized
here once, checked for what it must not have (RDS, RDS Proxy, a VPC), and run through cdk-nag and
cfn-lint like the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from infra.app import LoglensApp, build_app
from infra.components.functions import ASYNC_RETRIES
from infra.components.lake import LAKE_ERROR_PREFIX, retention_statement
from infra.config import load_config
from loglens.lake.rows import UNIQUE_KEYS
from loglens.lake.schema import lake_columns
from tests.infra.conftest import Synthesized, cdk_json_context
from tests.infra.test_cfn_lint import IGNORED_WARNINGS

LAKE_STAGE = "lake"


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


@pytest.fixture(scope="module")
def lake_only(deps_layer: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoglensApp, cdk.App, Path]]:
    outdir = tmp_path_factory.mktemp("cdk.out.lake")
    context = {**cdk_json_context(), "stage": LAKE_STAGE, "aws:cdk:disable-asset-staging": True}
    started = time.monotonic()
    app = cdk.App(context=context, outdir=str(outdir))
    built = build_app(app, nag=False)
    app.synth()
    print(
        f"\n[infra] synthesized the lake-only stage ({len(built.stacks)} stacks) in {time.monotonic() - started:.1f}s"
    )
    yield built, app, outdir


def _templates(lake_only: tuple[LoglensApp, cdk.App, Path]) -> dict[str, dict[str, Any]]:
    built, _, outdir = lake_only
    return {
        s.stack_name.removeprefix(f"loglens-{LAKE_STAGE}-"): json.loads(
            (outdir / f"{s.artifact_id}.template.json").read_text(encoding="utf-8")
        )
        for s in built.stacks
    }


def test_the_iceberg_table_is_the_record_model_partitioned_by_day(synthesized: Synthesized) -> None:
    [table] = _resources(synthesized.raw["lake"], "AWS::Glue::Table")
    props = table["Properties"]
    iceberg = props["OpenTableFormatInput"]["IcebergInput"]
    assert iceberg["MetadataOperation"] == "CREATE" and iceberg["Version"] == "2"
    spec = iceberg["IcebergTableInput"]
    fields = spec["Schema"]["Fields"]
    assert [(f["Id"], f["Name"], f["Type"], f["Required"]) for f in fields] == [
        (c.field_id, c.name, c.iceberg_type, c.required) for c in lake_columns()
    ]
    created_at = next(f["Id"] for f in fields if f["Name"] == "created_at")
    assert spec["PartitionSpec"]["Fields"] == [
        {"Name": "created_at_day", "SourceId": created_at, "Transform": "day", "FieldId": 1000}
    ]
    assert [f["SourceId"] for f in spec["WriteOrder"]["Fields"]][-1] == created_at
    assert spec["Properties"]["write.parquet.compression-codec"] == "zstd"
    assert spec["Location"]["Fn::Join"][1][-1].endswith("/tables/logs")
    assert props["TableInput"]["Name"] == "logs"


def test_glue_keeps_the_table_compact_and_expires_snapshots_and_orphans(synthesized: Synthesized) -> None:
    optimizers = _resources(synthesized.raw["lake"], "AWS::Glue::TableOptimizer")
    assert sorted(o["Properties"]["Type"] for o in optimizers) == ["compaction", "orphan_file_deletion", "retention"]
    for optimizer in optimizers:
        assert optimizer["Properties"]["TableOptimizerConfiguration"]["Enabled"] is True
    retention = next(o for o in optimizers if o["Properties"]["Type"] == "retention")
    iceberg = retention["Properties"]["TableOptimizerConfiguration"]["RetentionConfiguration"]["IcebergConfiguration"]
    assert iceberg["CleanExpiredFiles"] is True
    assert iceberg["SnapshotRetentionPeriodInDays"] == synthesized.loglens.config.lake.snapshot_retention_days


def test_rows_past_retention_are_deleted_daily_by_athena_in_the_workgroup(synthesized: Synthesized) -> None:
    config = synthesized.loglens.config
    [schedule] = _resources(synthesized.raw["lake"], "AWS::Scheduler::Schedule")
    target = schedule["Properties"]["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:athena:startQueryExecution"
    request = json.loads(target["Input"])
    assert request["QueryString"] == retention_statement(config.lake.retention_days)
    assert "date_trunc('day'" in request["QueryString"]  # whole days: partitions dropped, not rewritten
    assert request["WorkGroup"] == f"loglens-{config.stage}-lake"
    # Only the table's data, never by S3 lifecycle: expiring Iceberg files would corrupt the table
    [lake_bucket] = [
        b
        for b in _resources(synthesized.raw["lake"], "AWS::S3::Bucket")
        if "-lake-" in json.dumps(b["Properties"].get("BucketName", ""))
    ]
    prefixes = {
        r.get("Prefix") for r in lake_bucket["Properties"]["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r
    }
    assert prefixes == {"errors/"}


def test_the_workgroup_enforces_a_scan_cutoff_and_encrypted_expiring_results(synthesized: Synthesized) -> None:
    config = synthesized.loglens.config
    lake = synthesized.templates["lake"]
    lake.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": f"loglens-{config.stage}-lake",
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "BytesScannedCutoffPerQuery": config.lake.bytes_scanned_cutoff_gib * 1024**3,
                    "ResultConfiguration": {
                        "OutputLocation": Match.any_value(),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": Match.any_value()},
                    },
                }
            ),
        },
    )
    [results] = [
        b
        for b in _resources(synthesized.raw["lake"], "AWS::S3::Bucket")
        if "-athena-" in json.dumps(b["Properties"].get("BucketName", ""))
    ]
    rules = results["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Id": "expire-results", "Status": "Enabled", "ExpirationInDays": config.lake.results_expire_days} in rules


def test_the_stream_upserts_on_the_row_key_through_the_gate_with_an_error_prefix(synthesized: Synthesized) -> None:
    [stream] = [
        s
        for s in _resources(synthesized.raw["ingest"], "AWS::KinesisFirehose::DeliveryStream")
        if "IcebergDestinationConfiguration" in s["Properties"]
    ]
    iceberg = stream["Properties"]["IcebergDestinationConfiguration"]
    assert stream["Properties"]["DeliveryStreamType"] == "DirectPut"
    assert iceberg["AppendOnly"] is False
    [table] = iceberg["DestinationTableConfigurationList"]
    assert table["UniqueKeys"] == list(UNIQUE_KEYS) == ["created_at", "event_id"]
    assert table["DestinationTableName"] == "logs" and table["S3ErrorOutputPrefix"] == LAKE_ERROR_PREFIX
    assert iceberg["S3Configuration"]["ErrorOutputPrefix"] == LAKE_ERROR_PREFIX
    assert iceberg["s3BackupMode"] == "FailedDataOnly"  # CloudFormation spells this one with a small s
    assert "!{firehose:error-output-type}" in LAKE_ERROR_PREFIX
    [processor] = iceberg["ProcessingConfiguration"]["Processors"]
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    gate = parameters["LambdaArn"]["Fn::GetAtt"][0]
    assert gate.startswith("LakeGate") and processor["Type"] == "Lambda"
    # The gate runs outside the VPC on every stage
    assert "VpcConfig" not in synthesized.raw["ingest"]["Resources"][gate]["Properties"]


def test_load_forwards_to_the_lake_stream_and_nothing_else_new(synthesized: Synthesized) -> None:
    resources = synthesized.raw["ingest"]["Resources"]
    load = next(
        r for k, r in resources.items() if k.startswith("LoadFunction") and r["Type"] == "AWS::Lambda::Function"
    )
    assert "LAKE_STREAM_NAME" in load["Properties"]["Environment"]["Variables"]
    puts = [
        statement["Resource"]
        for key, policy in resources.items()
        if key.startswith("LoadRole") and policy["Type"] == "AWS::IAM::Policy"
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "firehose:PutRecordBatch"
    ]
    assert puts == [
        {"Fn::GetAtt": [Match.string_like_regexp("LakeDelivery").pattern if False else puts[0]["Fn::GetAtt"][0], "Arn"]}
    ]
    assert puts[0]["Fn::GetAtt"][0].startswith("LakeDelivery")


def test_ask_gets_exactly_the_athena_glue_and_s3_it_needs(synthesized: Synthesized) -> None:
    resources = synthesized.raw["analysis"]["Resources"]
    [policy] = [r for k, r in resources.items() if k.startswith("AskLakeQuery")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    by_action = {tuple(sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])): s for s in statements}
    athena = by_action[
        (
            "athena:GetQueryExecution",
            "athena:GetQueryResults",
            "athena:StartQueryExecution",
            "athena:StopQueryExecution",
        )
    ]
    assert "workgroup/loglens-dev-lake" in json.dumps(athena["Resource"])
    glue = by_action[("glue:GetDatabase", "glue:GetTable")]  # no UpdateTable: the agent never writes
    assert "table/loglens_dev_lake/logs" in json.dumps(glue["Resource"])
    every_action = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not {"s3:DeleteObject", "glue:UpdateTable", "glue:DeleteTable"} & every_action
    s3_reads = by_action[("s3:GetObject",)]
    assert json.dumps(s3_reads["Resource"]).endswith('tables/logs/*"]]}')
    ask = next(r for k, r in resources.items() if k.startswith("AskFunction") and r["Type"] == "AWS::Lambda::Function")
    env = ask["Properties"]["Environment"]["Variables"]
    assert env["LOGLENS_LAKE"] == "athena" and env["ATHENA_WORKGROUP"] == "loglens-dev-lake"
    assert env["LAKE_DATABASE"] == "loglens_dev_lake" and "DB_HOST" in env  # both tools on a PostgreSQL stage


def test_the_vpc_reaches_athena_through_an_endpoint(synthesized: Synthesized) -> None:
    endpoints = _resources(synthesized.raw["network"], "AWS::EC2::VPCEndpoint")
    assert any("athena" in json.dumps(e["Properties"]["ServiceName"]) for e in endpoints)


def test_the_lake_only_stage_has_no_database_no_proxy_and_no_vpc(lake_only: tuple[LoglensApp, cdk.App, Path]) -> None:
    built, _, _ = lake_only
    assert built.config.lake.only and not built.config.has_database
    templates = _templates(lake_only)
    assert set(templates) == {"lake", "ingest", "analysis"}
    kinds = {r["Type"] for t in templates.values() for r in t["Resources"].values()}
    assert not {k for k in kinds if k.startswith(("AWS::RDS::", "AWS::EC2::"))}, kinds
    assert "AWS::SQS::Queue" not in kinds  # no load path
    for template in templates.values():
        for resource in _resources(template, "AWS::Lambda::Function"):
            assert "VpcConfig" not in resource["Properties"]
    ingest, analysis = Template.from_json(templates["ingest"]), Template.from_json(templates["analysis"])
    # collect writes one sealed row per record to the lake stream; FireLens senders get that stream
    ingest.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "collect.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "LOGLENS_DELIVERY": "lake",
                        "FIREHOSE_STREAM_NAME": {"Ref": Match.string_like_regexp("LakeDelivery")},
                    }
                )
            },
        },
    )
    ingest.resource_count_is("AWS::KinesisFirehose::DeliveryStream", 1)
    # the lake is the only store here: short buffers (the gate's batch, then Firehose's flush)
    [stream] = _resources(templates["ingest"], "AWS::KinesisFirehose::DeliveryStream")
    iceberg = stream["Properties"]["IcebergDestinationConfiguration"]
    assert iceberg["BufferingHints"]["IntervalInSeconds"] == built.config.lake.buffer_interval_seconds == 15
    [processor] = iceberg["ProcessingConfiguration"]["Processors"]
    assert {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "10"} in processor["Parameters"]
    ingest.has_output("FireLensSenderPolicyArn", Match.any_value())
    # the agent has the lake alone: no database variables, the lake's
    asks = [
        r
        for r in _resources(templates["analysis"], "AWS::Lambda::Function")
        if r["Properties"]["Handler"] == "ask.handler"
    ]
    env = asks[0]["Properties"]["Environment"]["Variables"]
    assert env["LOGLENS_LAKE"] == "athena" and not {"DB_HOST", "DB_USER", "CONVERSATION_DB_USER"} & set(env)
    analysis.resource_count_is("AWS::ApiGateway::RestApi", 1)


def test_the_lake_only_stage_sets_retries_and_skips_the_database_checks(
    lake_only: tuple[LoglensApp, cdk.App, Path],
) -> None:
    built, _, _ = lake_only
    templates = _templates(lake_only)
    functions = {
        logical_id: r["Properties"]["Handler"].removesuffix(".handler")
        for t in templates.values()
        for logical_id, r in t["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler", "").endswith(".handler")
    }
    retries = {
        functions[r["Properties"]["FunctionName"]["Ref"]]: r["Properties"]["MaximumRetryAttempts"]
        for t in templates.values()
        for r in _resources(t, "AWS::Lambda::EventInvokeConfig")
    }
    assert retries == {"collect": 0, "lakegate": 0, "ask": 0} == {m: ASYNC_RETRIES[m] for m in retries}
    # no database: the preset's storage and free-storage checks do not apply, however large the volume
    huge = {**cdk_json_context(), "stage": LAKE_STAGE}
    huge["loglens"] = {**huge["loglens"], "stages": {LAKE_STAGE: {
        **huge["loglens"]["stages"][LAKE_STAGE], "capacity": {"records_per_day": 1_000_000_000}
    }}}  # fmt: skip
    assert load_config(huge.get).capacity.records_per_day == 1_000_000_000
    assert built.config.preset == "small"


def test_the_lake_only_stage_passes_cdk_nag(lake_only: tuple[LoglensApp, cdk.App, Path]) -> None:
    _, app, _ = lake_only
    report: Any = AwsSolutionsChecks().validate_scope(app)
    problems = [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations]
    assert report.success, "\n".join(problems)


@pytest.mark.parametrize("part", ["lake", "ingest", "analysis"])
def test_the_lake_only_stage_passes_cfn_lint(lake_only: tuple[LoglensApp, cdk.App, Path], part: str) -> None:
    built, _, outdir = lake_only
    stack = next(s for s in built.stacks if s.stack_name.endswith(f"-{part}"))
    matches = lint_file(outdir / f"{stack.artifact_id}.template.json", config=ManualArgs(regions=[built.config.region]))
    problems = [
        m
        for m in matches
        if m.rule.id.startswith("E") or (m.rule.id.startswith("W") and m.rule.id not in IGNORED_WARNINGS)
    ]
    assert not problems, "\n".join(f"{m.rule.id} {m.message} (line {m.linenumber})" for m in problems)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted(action if isinstance(action, list) else [action])


def test_archive_verifies_in_the_lake_with_a_read_only_grant(synthesized: Synthesized) -> None:
    # Given the dev stage (PostgreSQL and the lake)
    resources = synthesized.raw["maintenance"]["Resources"]
    archive = next(
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == "archive.handler"
    )
    env = archive["Properties"]["Environment"]["Variables"]
    # Then the archive function is told the lake is Athena's, with a deadline for a day's checksum
    assert env["LOGLENS_LAKE"] == "athena" and env["ATHENA_WORKGROUP"] == "loglens-dev-lake"
    assert env["LAKE_DATABASE"] == "loglens_dev_lake" and env["LAKE_TABLE"] == "logs"
    assert float(env["LAKE_QUERY_TIMEOUT_S"]) > 60
    # And may run queries in the workgroup and read the table, never write it or its catalog entry
    [policy] = [r for k, r in resources.items() if k.startswith("ArchiveLakeQuery")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    every_action = {a for s in statements for a in _actions(s)}
    assert {"athena:StartQueryExecution", "athena:GetQueryResults", "glue:GetTable", "s3:GetObject"} <= every_action
    assert not {"s3:DeleteObject", "glue:UpdateTable", "glue:DeleteTable", "athena:*"} & every_action
    athena = next(s for s in statements if "athena:StartQueryExecution" in _actions(s))
    assert "workgroup/loglens-dev-lake" in json.dumps(athena["Resource"])
    # And its environment is what its model requires (the handler validates it at cold start)
    from loglens.environments import ArchiveEnvironment

    environ = {k: v if isinstance(v, str) else "resolved" for k, v in env.items()} | {"DB_PORT": "5432"}
    assert ArchiveEnvironment.from_env({**environ, "AWS_REGION": "us-east-1"}).lake.workgroup == "loglens-dev-lake"


def test_ask_and_archive_reach_athena_through_the_endpoint_their_group_may_use(synthesized: Synthesized) -> None:
    network = synthesized.raw["network"]["Resources"]
    [athena] = [
        r
        for r in network.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and "athena" in json.dumps(r["Properties"]["ServiceName"])
    ]
    props = athena["Properties"]
    assert props["PrivateDnsEnabled"] is True  # the SDK's default host name resolves to the endpoint
    [endpoint_group] = [g["Fn::GetAtt"][0] for g in props["SecurityGroupIds"]]
    # The endpoint's policy lets through every Athena call the functions make, on the stage's workgroups
    [statement] = props["PolicyDocument"]["Statement"]
    assert {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
    } <= set(_actions(statement))
    assert "workgroup/loglens-dev" in json.dumps(statement["Resource"])
    # And the functions' security group may open HTTPS to the endpoint's
    ingress = [
        r["Properties"]
        for r in network.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
        and r["Properties"]["GroupId"]["Fn::GetAtt"][0] == endpoint_group
    ]
    allowed = {rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in ingress if rule["FromPort"] == 443}
    for part, handler in (("analysis", "ask.handler"), ("maintenance", "archive.handler")):
        function = next(
            r
            for r in synthesized.raw[part]["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler
        )
        [group] = function["Properties"]["VpcConfig"]["SecurityGroupIds"]
        exported = json.dumps(group)  # a cross-stack import of the network stack's group
        assert any(name in exported for name in allowed), (handler, exported, allowed)


def _lake_only_ask(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [ask] = [
        r
        for r in _resources(templates["analysis"], "AWS::Lambda::Function")
        if r["Properties"]["Handler"] == "ask.handler"
    ]
    return ask


def test_the_lake_only_ask_keeps_its_state_in_an_encrypted_on_demand_table(
    lake_only: tuple[LoglensApp, cdk.App, Path],
) -> None:
    templates = _templates(lake_only)
    [table] = _resources(templates["analysis"], "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"  # nothing to pay while no one asks
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    env = _lake_only_ask(templates)["Properties"]["Environment"]["Variables"]
    table_id = next(k for k, r in templates["analysis"]["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table")
    assert env["ASK_STATE_TABLE"] == {"Ref": table_id}
    # The ask role may put and query items in that table, nothing more (no scans, deletes, table changes)
    grants = [
        s
        for r in _resources(templates["analysis"], "AWS::IAM::Policy")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if any(a.startswith("dynamodb:") for a in _actions(s))
    ]
    assert [_actions(s) for s in grants] == [["dynamodb:PutItem", "dynamodb:Query"]]
    assert table_id in json.dumps(grants[0]["Resource"])


def test_the_lake_only_ask_environment_is_one_its_model_accepts_and_slack_is_routed(
    lake_only: tuple[LoglensApp, cdk.App, Path],
) -> None:
    from loglens.environments import AskEnvironment

    templates = _templates(lake_only)
    env = _lake_only_ask(templates)["Properties"]["Environment"]["Variables"]
    environ = {k: v if isinstance(v, str) else "resolved" for k, v in env.items()}
    parsed = AskEnvironment.from_env({**environ, "AWS_REGION": "us-east-1"})
    assert not parsed.has_database and parsed.ask_state_table == "resolved"
    assert parsed.lake.workgroup == "loglens-lake-lake"
    # Outside a VPC the function reaches Slack's response_url, so the slash-command route is deployed
    paths = {r["Properties"]["PathPart"] for r in _resources(templates["analysis"], "AWS::ApiGateway::Resource")}
    assert "commands" in paths and "SLACK_SECRET_ARN" in env
    # The query API's routes exist and are the ask function's, which answers them with a reason (no 403)
    assert {"query", "tail", "facts", "saved", "answers"} <= paths
    methods = [
        m["Properties"]
        for m in _resources(templates["analysis"], "AWS::ApiGateway::Method")
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    ]
    targets = {json.dumps(m["Integration"]["Uri"]) for m in methods}
    ask_id = next(
        k
        for k, r in templates["analysis"]["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == "ask.handler"
    )
    assert targets and all(ask_id in target for target in targets)
    # And the agent's lake grant is the read-only one on the stage's workgroup
    [policy] = [r for k, r in templates["analysis"]["Resources"].items() if k.startswith("AskLakeQuery")]
    every_action = {a for s in policy["Properties"]["PolicyDocument"]["Statement"] for a in _actions(s)}
    assert "athena:StartQueryExecution" in every_action and "glue:UpdateTable" not in every_action
