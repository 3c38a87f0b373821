"""Issue #17's deployment items: collect outside the VPC, Slack only with egress, a versioned archive,
endpoint policies naming the project's resources, layered throttles, and the reader's IAM login."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from infra.stacks.analysis import NO_SLACK_WARNING
from tests.infra.conftest import Synthesized
from tests.infra.test_cfn_lint import IGNORED_WARNINGS
from tests.infra.test_security import _resource_paths


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources(synth: Synthesized, part: str, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in synth.raw[part]["Resources"].items() if r["Type"] == kind}


def one(found: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any]:
    (match,) = [r for k, r in found.items() if k.startswith(prefix)]
    return match


def policy_actions(synth: Synthesized, part: str, role_prefix: str) -> set[str]:
    found: set[str] = set()
    for logical_id, policy in resources(synth, part, "AWS::IAM::Policy").items():
        if logical_id.startswith(role_prefix):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                found |= set(actions if isinstance(actions, list) else [actions])
    return found


def test_collect_runs_outside_the_vpc_with_only_firehose_and_its_secret(synthesized: Synthesized) -> None:
    function = one(resources(synthesized, "ingest", "AWS::Lambda::Function"), "CollectFunction")
    assert "VpcConfig" not in function["Properties"]
    role = one(resources(synthesized, "ingest", "AWS::IAM::Role"), "CollectRole")
    assert "LambdaVpcAccess" not in json.dumps(role["Properties"].get("ManagedPolicyArns", []))
    assert policy_actions(synthesized, "ingest", "CollectRole") == {
        "firehose:PutRecordBatch",
        "secretsmanager:GetSecretValue",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    # and load, which reaches the database, is still inside
    load = one(resources(synthesized, "ingest", "AWS::Lambda::Function"), "LoadFunction")
    assert load["Properties"]["VpcConfig"]["SecurityGroupIds"]


def test_without_egress_the_slack_route_is_absent_and_synthesis_says_why(synthesized: Synthesized) -> None:
    assert synthesized.loglens.config.internet_egress is False
    analysis = synthesized.raw["analysis"]
    paths = {
        r["Properties"]["PathPart"] for r in resources(synthesized, "analysis", "AWS::ApiGateway::Resource").values()
    }
    assert "slack" not in paths and "commands" not in paths
    assert "SlackSigningSecret" not in json.dumps(analysis)
    ask = one(resources(synthesized, "analysis", "AWS::Lambda::Function"), "AskFunction")
    assert "SLACK_SECRET_ARN" not in ask["Properties"]["Environment"]["Variables"]
    Annotations.from_stack(synthesized.loglens.analysis).has_warning(
        "*", Match.string_like_regexp("Slack route /slack/commands is not deployed because internet_egress is off")
    )
    assert "Set internet_egress to true" in NO_SLACK_WARNING


def test_with_egress_the_slack_route_is_there_with_its_own_throttle(synthesized_with_egress: Synthesized) -> None:
    api = synthesized_with_egress.loglens.config.api
    template = synthesized_with_egress.templates["analysis"]
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "POST",
                            "ResourcePath": "/~1slack~1commands",
                            "ThrottlingRateLimit": api.slack_rate_limit,
                            "ThrottlingBurstLimit": api.slack_burst_limit,
                        }
                    )
                ]
            )
        },
    )
    assert api.slack_rate_limit < api.ask_stage_rate_limit and api.slack_burst_limit <= api.ask_stage_burst_limit
    ask = one(resources(synthesized_with_egress, "analysis", "AWS::Lambda::Function"), "AskFunction")
    assert "SLACK_SECRET_ARN" in ask["Properties"]["Environment"]["Variables"]
    assert not Annotations.from_stack(synthesized_with_egress.loglens.analysis).find_warning(
        "*", Match.string_like_regexp("internet_egress is off")
    )


def test_stage_throttles_sit_above_each_keys(synthesized: Synthesized) -> None:
    api = synthesized.loglens.config.api
    ingest = (
        (api.ingest_rate_limit, api.ingest_burst_limit),
        (api.ingest_stage_rate_limit, api.ingest_stage_burst_limit),
    )
    # The query API's plan holds a key to the query rate (ask's own lower rate is a per-method limit in it)
    query = ((api.query_rate_limit, api.query_burst_limit), (api.ask_stage_rate_limit, api.ask_stage_burst_limit))
    for part, (key, stage) in (("ingest", ingest), ("analysis", query)):
        plan = next(iter(resources(synthesized, part, "AWS::ApiGateway::UsagePlan").values()))
        assert (plan["Properties"]["Throttle"]["RateLimit"], plan["Properties"]["Throttle"]["BurstLimit"]) == key
        stage_settings = next(iter(resources(synthesized, part, "AWS::ApiGateway::Stage").values()))["Properties"]
        default = next(m for m in stage_settings["MethodSettings"] if m["HttpMethod"] == "*")
        assert (default["ThrottlingRateLimit"], default["ThrottlingBurstLimit"]) == stage
        assert stage[0] > key[0] and stage[1] > key[1], part


def test_a_stage_throttle_at_or_below_a_keys_is_refused() -> None:
    from infra.config import ApiSettings

    base = {
        "ingest_rate_limit": 500, "ingest_burst_limit": 1000, "ingest_quota_per_day": 10,
        "ask_rate_limit": 2, "ask_burst_limit": 5, "query_rate_limit": 5, "query_burst_limit": 10,
        "query_quota_per_day": 10, "cors_allow_origin": "*",
    }  # fmt: skip
    with pytest.raises(ValueError, match="ask_stage_rate_limit"):
        ApiSettings.model_validate({**base, "ask_stage_rate_limit": 5})  # not above a key's query rate
    with pytest.raises(ValueError, match="ask_rate_limit and ask_burst_limit"):
        ApiSettings.model_validate({**base, "ask_rate_limit": 6})
    with pytest.raises(ValueError, match="slack_rate_limit"):
        ApiSettings.model_validate({**base, "slack_rate_limit": 11})


def test_ask_polls_by_id(synthesized: Synthesized) -> None:
    template = synthesized.raw["analysis"]
    paths = _resource_paths(template)
    methods = resources(synthesized, "analysis", "AWS::ApiGateway::Method").values()
    gets = {
        paths[json.dumps(m["Properties"]["ResourceId"])]: m for m in methods if m["Properties"]["HttpMethod"] == "GET"
    }
    assert gets["/api/v1/ask/{id}"]["Properties"]["ApiKeyRequired"] is True
    assert "{id}" in {
        r["Properties"]["PathPart"] for r in resources(synthesized, "analysis", "AWS::ApiGateway::Resource").values()
    }


def test_the_archive_bucket_keeps_earlier_versions_for_a_while(synthesized: Synthesized) -> None:
    days = synthesized.loglens.config.retention.archive_noncurrent_expire_days
    buckets = resources(synthesized, "data", "AWS::S3::Bucket")
    archive = one(buckets, "StorageArchive")["Properties"]
    assert archive["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in archive["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": days}
    assert rules["remove-expired-delete-markers"]["ExpiredObjectDeleteMarker"] is True
    assert "archive-to-glacier-ir" in rules
    # the raw bucket holds a copy the archive and the database also have: no versions there
    assert "VersioningConfiguration" not in one(buckets, "StorageRaw")["Properties"]


def endpoint_statements(synth: Synthesized) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for _, _, endpoint in synth.all_resources("AWS::EC2::VPCEndpoint"):
        service = json.dumps(endpoint["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"]} ')
        found[service] = endpoint["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_every_vpc_endpoint_names_the_projects_resources(synthesized: Synthesized) -> None:
    stage = synthesized.loglens.config.stage
    statements = endpoint_statements(synthesized)
    # Firehose and Athena only because the dev stage has the lake on (load forwards, ask queries); SNS for the
    # alerts' e-mail
    assert set(statements) == {
        "s3",
        "secretsmanager",
        "lambda",
        "bedrock-runtime",
        "kinesis-firehose",
        "athena",
        "sns",
    }
    for service, found in statements.items():
        for statement in found:
            assert statement["Effect"] == "Allow" and "*" not in json.dumps(statement["Action"]).replace(
                "secretsmanager:GetRandomPassword", ""
            ), (service, statement)
    rendered = {service: json.dumps(found) for service, found in statements.items()}
    # S3: our two buckets (and their objects), and CloudFormation's response bucket for the custom resource
    s3_resources = [r for s in statements["s3"] for r in _as_list(s["Resource"])]
    allowed = (f"loglens-{stage}-raw-", f"loglens-{stage}-archive-", "cloudformation-custom-resource-response-useast1/")
    for resource in s3_resources:
        assert any(name in json.dumps(resource) for name in allowed), resource
    assert len(s3_resources) == 5
    # Secrets Manager: the stage's secrets by name (and the rotation's password generator, which names none)
    assert f"secret:loglens/{stage}/*" in rendered["secretsmanager"]
    # Lambda: the stage's functions; Bedrock: the configured model
    assert f"function:loglens-{stage}-*" in rendered["lambda"]
    assert synthesized.loglens.config.model.model_id in rendered["bedrock-runtime"]
    # Firehose: the stage's streams; Athena: the stage's workgroup
    assert f"deliverystream/loglens-{stage}-*" in rendered["kinesis-firehose"]
    assert f"workgroup/loglens-{stage}*" in rendered["athena"]
    assert f":loglens-{stage}-*" in rendered["sns"]  # the stage's topics
    # Only this account's principals, except the presigned response CloudFormation signs itself
    for found in statements.values():
        for statement in found:
            if "custom-resource-response" in json.dumps(statement["Resource"]):
                continue
            assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}


def test_every_secret_is_named_under_the_stages_prefix(synthesized: Synthesized) -> None:
    stage = synthesized.loglens.config.stage
    secrets = synthesized.all_resources("AWS::SecretsManager::Secret")
    assert len(secrets) >= 3
    for part, logical_id, secret in secrets:
        assert secret["Properties"]["Name"].startswith(f"loglens/{stage}/"), (part, logical_id)


def test_people_get_the_readers_login_and_never_the_agents(synthesized: Synthesized) -> None:
    data = synthesized.templates["data"]
    data.has_output("ReaderConnectPolicyArn", {"Value": {"Ref": Match.string_like_regexp("ConnectAsReader")}})
    migrations = next(iter(resources(synthesized, "data", "Custom::LoglensMigrations").values()))
    assert "loglens_reader" in migrations["Properties"]["IamLogins"]
    # No function connects as the reader; only ask, query and alerts (whose SQL passes the agent's guard and
    # session limits, set in every transaction; alerts for the model's queries) connect as the analyst
    for part in synthesized.raw:
        for logical_id, role in resources(synthesized, part, "AWS::IAM::Role").items():
            attached = json.dumps(role["Properties"].get("ManagedPolicyArns", []))
            assert "ConnectAsReader" not in attached, logical_id
            if "ConnectAsAnalyst" in attached:
                assert logical_id.startswith(("AskRole", "QueryRole", "AlertsRole")), logical_id


def test_the_egress_variant_passes_cdk_nag_and_cfn_lint(synthesized_with_egress: Synthesized) -> None:
    report: Any = AwsSolutionsChecks().validate_scope(synthesized_with_egress.app)
    assert report.success, [v.rule_name for v in report.violations]
    for part in ("network", "analysis"):
        stack = next(s for s in synthesized_with_egress.loglens.stacks if s.stack_name.endswith(f"-{part}"))
        template = synthesized_with_egress.outdir / f"{stack.artifact_id}.template.json"
        matches = lint_file(template, config=ManualArgs(regions=[synthesized_with_egress.loglens.config.region]))
        problems = [
            m
            for m in matches
            if m.rule.id.startswith("E") or (m.rule.id.startswith("W") and m.rule.id not in IGNORED_WARNINGS)
        ]
        assert not problems, [f"{m.rule.id} {m.message}" for m in problems]
