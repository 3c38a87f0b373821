"""Security properties of the synthesized templates: encryption, TLS, IAM auth, API keys, least privilege."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized

# Resource "*" is allowed only for these actions, each because AWS offers no resource-level permission.
WILDCARD_RESOURCE_ACTIONS = {
    # X-Ray trace upload (Tracing: Active adds this to every function role).
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions",
    # Lambda ENI management for functions in the VPC (the shared LambdaVpcAccess policy).
    "ec2:CreateNetworkInterface": "Lambda creates ENIs in subnets chosen at deploy time; no resource scoping",
    "ec2:DescribeNetworkInterfaces": "Describe* calls have no resource-level permissions",
    "ec2:DescribeSubnets": "Describe* calls have no resource-level permissions",
    "ec2:DeleteNetworkInterface": "the ENIs' ids are unknown until Lambda creates them",
    "ec2:AssignPrivateIpAddresses": "the ENIs' ids are unknown until Lambda creates them",
    "ec2:UnassignPrivateIpAddresses": "the ENIs' ids are unknown until Lambda creates them",
}
# In a KMS key policy "*" means "this key"; these are the only principals we let use it that way.
KEY_POLICY_WILDCARDS = {
    "this account's root": "the default statement delegating the key to IAM (without it the key is unmanageable), "
    "and CDK's statement letting Secrets Manager use the database key on behalf of this account",
    "cloudwatch.amazonaws.com": "CloudWatch alarms publish to the encrypted alarm topic",
    "one of our roles, via a service": "the migrate role decrypts the master secret, only through Secrets Manager",
}

POLICY_DOCUMENT_PROPERTIES = {
    "AWS::IAM::Policy": "PolicyDocument",
    "AWS::IAM::ManagedPolicy": "PolicyDocument",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SecretsManager::ResourcePolicy": "ResourcePolicy",
    "AWS::KMS::Key": "KeyPolicy",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(synth: Synthesized) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(stack, logical id, resource type, statement) for every policy statement in the app."""
    for part, template in synth.raw.items():
        for logical_id, resource in template["Resources"].items():
            kind = resource["Type"]
            props = resource.get("Properties", {})
            documents = []
            if kind in POLICY_DOCUMENT_PROPERTIES:
                documents.append(props.get(POLICY_DOCUMENT_PROPERTIES[kind]))
            if kind == "AWS::IAM::Role":
                documents += [policy["PolicyDocument"] for policy in props.get("Policies", [])]
            for document in documents:
                if document:
                    for statement in document["Statement"]:
                        yield part, logical_id, kind, statement


def test_every_bucket_is_encrypted_private_and_tls_only(synthesized: Synthesized) -> None:
    buckets = synthesized.all_resources("AWS::S3::Bucket")
    # access logs, raw, archive, the console's site; the lake's access logs, table and Athena results
    assert len(buckets) == 7
    for _, logical_id, bucket in buckets:
        props = bucket["Properties"]
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules and rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"aws:kms", "AES256"}, logical_id
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
    data = synthesized.templates["data"]
    for name in ("Raw", "Archive"):
        data.has_resource_properties(
            "AWS::S3::Bucket",
            {
                "BucketName": {"Fn::Join": ["", Match.array_with([f"loglens-dev-{name.lower()}-"])]},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {
                                    "Fn::GetAtt": [Match.string_like_regexp("StorageLogDataKey"), "Arn"]
                                },
                            },
                        }
                    ]
                },
                "LoggingConfiguration": Match.object_like({"LogFilePrefix": f"{name.lower()}-bucket/"}),
            },
        )
    tls_denials = [
        statement
        for _, _, kind, statement in _statements(synthesized)
        if kind == "AWS::S3::BucketPolicy"
        and statement["Effect"] == "Deny"
        and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(tls_denials) == 7
    for name in ("lake", "athena"):
        synthesized.templates["lake"].has_resource_properties(
            "AWS::S3::Bucket",
            {
                "BucketName": {"Fn::Join": ["", Match.array_with([f"loglens-dev-{name}-"])]},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        Match.object_like(
                            {
                                "ServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": "aws:kms",
                                    "KMSMasterKeyID": {
                                        "Fn::GetAtt": [Match.string_like_regexp("LakeLakeDataKey"), "Arn"]
                                    },
                                }
                            }
                        )
                    ]
                },
            },
        )


def test_database_is_encrypted_private_and_iam_authenticated(synthesized: Synthesized) -> None:
    data = synthesized.templates["data"]
    config = synthesized.loglens.config
    data.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": Match.string_like_regexp(r"^18\."),
            "StorageEncrypted": True,
            "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("DatabaseKey"), "Arn"]},
            "EnableIAMDatabaseAuthentication": True,
            "PubliclyAccessible": False,
            "BackupRetentionPeriod": config.database.backup_retention_days,
            "DeletionProtection": config.retain_data,
            "MultiAZ": config.database.multi_az,
            "EnablePerformanceInsights": True,
        },
    )
    data.has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {
            "Parameters": Match.object_like(
                {
                    "rds.force_ssl": "1",
                    "shared_preload_libraries": "pg_stat_statements",
                    "log_min_duration_statement": "1000",
                }
            )
        },
    )
    # The master secret is encrypted with the database key and rotated inside the VPC.
    data.has_resource_properties(
        "AWS::SecretsManager::Secret", {"KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("DatabaseKey"), "Arn"]}}
    )
    data.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {"HostedRotationLambda": Match.object_like({"RotationType": "PostgreSQLSingleUser"})},
    )


def test_proxy_requires_tls_and_iam_with_no_password_path(synthesized: Synthesized) -> None:
    ((_, _, proxy),) = synthesized.all_resources("AWS::RDS::DBProxy")
    props = proxy["Properties"]
    assert props["RequireTLS"] is True
    assert props["DefaultAuthScheme"] == "IAM_AUTH"
    # No secrets-based auth entry, so no client can log in to the proxy with a password.
    assert "Auth" not in props
    # The proxy role may connect as exactly the three IAM logins, on this instance only.
    proxy_connect = [
        statement
        for part, logical_id, kind, statement in _statements(synthesized)
        if part == "data" and "ProxyIAMRole" in logical_id and statement.get("Action") == "rds-db:connect"
    ]
    assert len(proxy_connect) == 1
    rendered = json.dumps(proxy_connect[0]["Resource"])
    for login in ("loglens_writer", "loglens_owner", "loglens_analyst"):
        assert f"/{login}" in rendered
    assert "DbiResourceId" in rendered


def test_stream_queues_topic_and_keys_are_encrypted(synthesized: Synthesized) -> None:
    streams = synthesized.all_resources("AWS::KinesisFirehose::DeliveryStream")
    assert len(streams) == 2  # raw/ for the load path, and the lake's Iceberg stream
    for _, _, stream in streams:
        props = stream["Properties"]
        assert props["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
        destination = (
            props.get("ExtendedS3DestinationConfiguration")
            or props["IcebergDestinationConfiguration"]["S3Configuration"]
        )
        assert destination["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"]
    for _, logical_id, queue in synthesized.all_resources("AWS::SQS::Queue"):
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, logical_id
    topics = synthesized.all_resources("AWS::SNS::Topic")
    assert len(topics) == 2  # the alarms, the alerts' e-mail
    for _, logical_id, topic in topics:
        assert "KmsMasterKeyId" in topic["Properties"], logical_id
    keys = synthesized.all_resources("AWS::KMS::Key")
    assert len(keys) == 5  # database, log data, alarm topic, alert topic, lake data
    for _, logical_id, key in keys:
        assert key["Properties"]["EnableKeyRotation"] is True, logical_id


def test_every_route_needs_an_api_key_except_slack_health_openapi_and_preflight(
    synthesized: Synthesized, synthesized_with_egress: Synthesized
) -> None:
    # Liveness and the OpenAPI document read no data. The same routes as the document says (and `loglens dev`
    # serves) without a key. Without internet egress the Slack route is not deployed at all (test_hardening).
    public = [("GET", "/api/v1/health"), ("GET", "/api/v1/openapi.json")]
    assert sorted(keyless_routes(synthesized)) == public
    # Slack cannot send an API key (the handlers verify Slack's signature): the slash command and the
    # alert message's buttons.
    slack = [("POST", "/slack/actions"), ("POST", "/slack/commands")]
    assert sorted(keyless_routes(synthesized_with_egress)) == sorted([*public, *slack])


def keyless_routes(synthesized: Synthesized) -> list[tuple[str, str]]:
    keyless = []
    for part in ("ingest", "analysis"):
        template = synthesized.raw[part]
        paths = _resource_paths(template)
        for method in (r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"):
            props = method["Properties"]
            path = paths[json.dumps(props["ResourceId"])]
            if props["HttpMethod"] == "OPTIONS":
                # Browsers cannot send the key on a CORS preflight; it only reaches a MOCK integration.
                assert props["Integration"]["Type"] == "MOCK"
                assert props["Integration"]["ContentHandling"] == "CONVERT_TO_TEXT"
                continue
            if not props.get("ApiKeyRequired"):
                keyless.append((props["HttpMethod"], path))
            assert props["Integration"]["Type"] == "AWS_PROXY"
    return keyless


def test_slack_route_insists_on_the_signature_headers(synthesized_with_egress: Synthesized) -> None:
    synthesized_with_egress.templates["analysis"].has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "ApiKeyRequired": False,
            "RequestParameters": {
                "method.request.header.X-Slack-Signature": True,
                "method.request.header.X-Slack-Request-Timestamp": True,
            },
            "RequestValidatorId": Match.any_value(),
        },
    )


def test_usage_plans_throttle_and_cap_ingest_and_query_separately(synthesized: Synthesized) -> None:
    api = synthesized.loglens.config.api
    synthesized.templates["ingest"].has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": api.ingest_rate_limit, "BurstLimit": api.ingest_burst_limit},
            "Quota": {"Limit": api.ingest_quota_per_day, "Period": "DAY"},
        },
    )
    # A query key: the query routes' rate and the daily quota over the whole API, and ask's own (lower) rate
    ask = {"RateLimit": api.ask_rate_limit, "BurstLimit": api.ask_burst_limit}
    synthesized.templates["analysis"].has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": api.query_rate_limit, "BurstLimit": api.query_burst_limit},
            "Quota": {"Limit": api.query_quota_per_day, "Period": "DAY"},
            "ApiStages": [Match.object_like({"Throttle": {"/api/v1/ask/POST": ask}})],
        },
    )
    # Separate APIs, so an ingest key (shipped to browsers) can never call ask or query; the console's own API
    # takes no keys at all (a Cognito sign-in), and has no usage plan.
    assert len(synthesized.all_resources("AWS::ApiGateway::RestApi")) == 3
    synthesized.templates["console"].resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    synthesized.templates["console"].resource_count_is("AWS::ApiGateway::ApiKey", 0)


def test_apis_log_access_as_json_and_enable_cors_binary_and_tracing(synthesized: Synthesized) -> None:
    for part in ("ingest", "analysis"):
        synthesized.templates[part].has_resource_properties(
            "AWS::ApiGateway::Stage",
            {
                "AccessLogSetting": {
                    "DestinationArn": Match.any_value(),
                    "Format": Match.string_like_regexp("apiKeyId"),
                },
                "TracingEnabled": True,
                "MethodSettings": Match.array_with(
                    [Match.object_like({"LoggingLevel": "ERROR", "DataTraceEnabled": False, "HttpMethod": "*"})]
                ),
            },
        )
    ingest = synthesized.templates["ingest"]
    ingest.has_resource_properties("AWS::ApiGateway::RestApi", {"BinaryMediaTypes": ["*/*"]})
    ingest.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "OPTIONS",
            "Integration": Match.object_like(
                {
                    "IntegrationResponses": [
                        Match.object_like(
                            {
                                "ResponseParameters": Match.object_like(
                                    {
                                        "method.response.header.Access-Control-Allow-Headers": Match.string_like_regexp(
                                            "Content-Type,Content-Encoding,X-Api-Key"
                                        )
                                    }
                                )
                            }
                        )
                    ]
                }
            ),
        },
    )


def test_no_statement_allows_every_action(synthesized: Synthesized) -> None:
    for part, logical_id, kind, statement in _statements(synthesized):
        if statement["Effect"] != "Allow":
            continue  # Deny statements (TLS-only policies) may be as broad as they like
        for action in _as_list(statement.get("Action", [])):
            if kind == "AWS::KMS::Key" and _is_root_key_statement(statement):
                continue  # KEY_POLICY_WILDCARDS: the default delegation to IAM
            assert action != "*" and not action.endswith(":*"), (part, logical_id, statement)


def test_resource_wildcards_only_where_aws_requires_them(synthesized: Synthesized) -> None:
    for part, logical_id, kind, statement in _statements(synthesized):
        if statement["Effect"] != "Allow" or "*" not in _as_list(statement.get("Resource", [])):
            continue
        if kind == "AWS::KMS::Key":
            # In a key policy "*" is the key itself; see KEY_POLICY_WILDCARDS for who may use it.
            principal = statement["Principal"]
            through_service = "kms:ViaService" in statement.get("Condition", {}).get("StringEquals", {})
            our_role = "Fn::GetAtt" in principal.get("AWS", {}) and through_service
            assert _is_account_root(principal) or principal == {"Service": "cloudwatch.amazonaws.com"} or our_role, (
                part,
                logical_id,
                statement,
            )
            continue
        actions = set(_as_list(statement["Action"]))
        unexplained = actions - WILDCARD_RESOURCE_ACTIONS.keys()
        assert not unexplained, f"{part}/{logical_id} grants {sorted(unexplained)} on Resource '*'"
    assert KEY_POLICY_WILDCARDS  # the two key-policy exceptions above, documented


def test_functions_get_exactly_their_contracted_permissions(synthesized: Synthesized) -> None:
    def actions_of(part: str, role_prefix: str) -> set[str]:
        found: set[str] = set()
        for p, logical_id, kind, statement in _statements(synthesized):
            if p == part and kind == "AWS::IAM::Policy" and logical_id.startswith(role_prefix):
                found |= set(_as_list(statement["Action"]))
        return found

    tracing = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    logs = {"logs:CreateLogStream", "logs:PutLogEvents"}
    # secretsmanager: the envelope key collect seals its lines with and load verifies them with
    envelope = {"secretsmanager:GetSecretValue"}
    assert actions_of("ingest", "CollectRole") == tracing | logs | {"firehose:PutRecordBatch"} | envelope
    load = actions_of("ingest", "LoadRole")
    assert {"s3:GetObject", "s3:PutObject", "kms:Decrypt", "sqs:ReceiveMessage", "sqs:DeleteMessage"} | envelope <= load
    assert not {"s3:DeleteObject", "s3:ListBucket"} & load  # firehose: only onto the lake stream (test_lake.py)
    ask = actions_of("analysis", "AskRole") | actions_of("analysis", "AskSelfInvoke")
    assert {"secretsmanager:GetSecretValue", "lambda:InvokeFunction", "bedrock:InvokeModel"} <= ask
    # alerts: its Slack secret, its topic (and the topic's key), the model; it invokes nothing, writes no bucket
    alerts = actions_of("analysis", "AlertsRole")
    assert {"secretsmanager:GetSecretValue", "sns:Publish", "bedrock:InvokeModel"} <= alerts
    assert not {a for a in alerts if a.startswith(("s3:", "lambda:", "firehose:", "sqs:"))}
    # The database logins come from per-login managed policies built in the data stack.
    roles = {logical_id: role for _, logical_id, role in synthesized.all_resources("AWS::IAM::Role")}
    # ask also connects as the writer, only to store conversation turns (the analyst stays read-only)
    expected_logins = {
        "LoadRole": {"Writer"},
        "MaintainRole": {"Owner"},
        "ArchiveRole": {"Owner"},
        "AskRole": {"Analyst", "Writer"},
        # alerts detects and keeps its state as the alerter; Claude's guarded queries run as the analyst
        "AlertsRole": {"Alerter", "Analyst"},
        # query: guarded SQL as the analyst; saved entries and shared answers as the writer
        "QueryRole": {"Analyst", "Writer"},
    }
    for prefix, logins in expected_logins.items():
        (role,) = [r for logical_id, r in roles.items() if logical_id.startswith(prefix)]
        attached = json.dumps(role["Properties"]["ManagedPolicyArns"])
        names = ("Writer", "Owner", "Analyst", "Alerter")
        assert {other for other in names if f"ConnectAs{other}" in attached} == logins


def test_ecs_sender_policy_allows_only_putting_records_on_the_stream(synthesized: Synthesized) -> None:
    ingest = synthesized.templates["ingest"]
    ingest.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
                        "Effect": "Allow",
                        "Resource": {"Fn::GetAtt": [Match.string_like_regexp("DeliveryStream"), "Arn"]},
                    }
                ],
                "Version": "2012-10-17",
            }
        },
    )
    ingest.has_output("FireLensSenderPolicyArn", {"Export": {"Name": "loglens-dev-firelens-sender-policy-arn"}})


def test_templates_name_no_account(synthesized: Synthesized) -> None:
    # Environment-agnostic: the account is always the AWS::AccountId pseudo parameter.
    for part, template in synthesized.raw.items():
        rendered = json.dumps(template)
        for token in rendered.split('"'):
            assert not (token.isdigit() and len(token) == 12), (part, token)


def _is_account_root(principal: Any) -> bool:
    return principal == {"AWS": {"Fn::Join": ["", ["arn:aws:iam::", {"Ref": "AWS::AccountId"}, ":root"]]}}


def _is_root_key_statement(statement: dict[str, Any]) -> bool:
    return _is_account_root(statement.get("Principal")) and statement.get("Action") == "kms:*"


def _resource_paths(template: dict[str, Any]) -> dict[str, str]:
    """JSON of a method's ResourceId → the resource's full path."""
    resources = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::ApiGateway::Resource"}

    def path_of(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = path_of(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {json.dumps({"Ref": logical_id}): path_of(logical_id) for logical_id in resources}
