"""The console in AWS: Cognito sign-in (PKCE, no secret, MFA, no self sign-up), its own API behind a Cognito
authorizer on every method, the private site behind CloudFront (HTTPS only, CSP, caching, SPA fallback on the
site only), config.json written at deploy, and a synth that works without the console built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from infra.config import load_config
from infra.stacks.console import ConsoleStack
from infra.stacks.network import NetworkStack
from loglens.query.routes import ROUTES as QUERY_ROUTES
from tests.infra.conftest import Synthesized, cdk_json_context
from tests.infra.test_security import _resource_paths


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_sign_in_is_admin_created_users_with_mfa_and_a_public_pkce_client(synthesized: Synthesized) -> None:
    console = synthesized.templates["console"]
    console.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "MfaConfiguration": "ON",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "Policies": {"PasswordPolicy": Match.object_like({"MinimumLength": 14, "RequireSymbols": True})},
        },
    )
    console.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthScopes": ["openid", "email"],
            "SupportedIdentityProviders": ["COGNITO"],
            "PreventUserExistenceErrors": "ENABLED",
            "CallbackURLs": [{"Fn::Join": ["", ["https://", {"Fn::GetAtt": [Match.any_value(), "DomainName"]}, "/"]]}],
        },
    )
    # The hosted UI's domain: loglens-<stage>-<account id> unless cdk.json names one
    console.has_resource_properties(
        "AWS::Cognito::UserPoolDomain",
        {"Domain": {"Fn::Join": ["-", ["loglens-dev", {"Ref": "AWS::AccountId"}]]}},
    )


def test_every_console_api_method_needs_a_cognito_sign_in_and_reaches_our_functions(synthesized: Synthesized) -> None:
    template = synthesized.raw["console"]
    paths = _resource_paths(template)
    methods = {}
    for method in _resources(template, "AWS::ApiGateway::Method"):
        props = method["Properties"]
        assert props["HttpMethod"] != "OPTIONS"  # same origin through CloudFront: no CORS preflight
        methods[(paths[json.dumps(props["ResourceId"])], props["HttpMethod"])] = props
    assert set(methods) == {*QUERY_ROUTES, ("/api/v1/ask", "POST"), ("/api/v1/ask/{id}", "GET")}
    for route, props in methods.items():
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS" and props["AuthorizerId"], route
        assert not props.get("ApiKeyRequired"), route
        assert props["Integration"]["Type"] == "AWS_PROXY", route
    # The invoke permissions live here, one per route of this API's stage, so the analysis stack never refers back
    permissions = [p["Properties"] for p in _resources(template, "AWS::Lambda::Permission")]
    assert len(permissions) == len(methods)
    for props in permissions:
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert "Fn::GetStackOutput" in json.dumps(props["FunctionName"])  # the analysis stack's functions
        assert "/api/v1/" in json.dumps(props["SourceArn"]) and "ConsoleSiteApi" in json.dumps(props["SourceArn"])
    [authorizer] = _resources(template, "AWS::ApiGateway::Authorizer")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"


def test_the_site_is_private_https_only_and_sends_the_csp(synthesized: Synthesized) -> None:
    template = synthesized.raw["console"]
    [distribution] = _resources(template, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    behaviors = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert {b.get("PathPattern") for b in behaviors} == {None, "/assets/*", "/api/*"}
    assert all(b["ViewerProtocolPolicy"] == "https-only" for b in behaviors)
    # The SPA fallback runs on the site's behaviour only, so an API 404 stays a 404
    assert config["DefaultCacheBehavior"]["FunctionAssociations"][0]["EventType"] == "viewer-request"
    assert all("FunctionAssociations" not in b for b in config["CacheBehaviors"])
    assert "CustomErrorResponses" not in config
    # The console's API is the /api/* origin, under its stage, over TLS 1.2
    [api_origin] = [o for o in config["Origins"] if "CustomOriginConfig" in o]
    [stage] = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert api_origin["OriginPath"] == {"Fn::Join": ["", ["/", {"Ref": stage}]]}
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert "execute-api" in json.dumps(api_origin["DomainName"])
    [site_origin] = [o for o in config["Origins"] if "S3OriginConfig" in o]
    assert site_origin["OriginAccessControlId"]
    # Only this distribution may read the bucket
    [policy] = _resources(template, "AWS::S3::BucketPolicy")
    readers = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in readers] == [{"Service": "cloudfront.amazonaws.com"}]
    assert "AWS:SourceArn" in json.dumps(readers[0]["Condition"])
    # Security headers with the console's CSP (connect-src: this origin and the Cognito domain) and caching
    headers = {
        json.dumps(p["Properties"]["ResponseHeadersPolicyConfig"].get("CustomHeadersConfig")): p["Properties"][
            "ResponseHeadersPolicyConfig"
        ]
        for p in _resources(template, "AWS::CloudFront::ResponseHeadersPolicy")
    }
    cache_controls = set()
    for policy_config in headers.values():
        security = policy_config["SecurityHeadersConfig"]
        assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
        assert security["FrameOptions"]["FrameOption"] == "DENY"
        assert security["ContentTypeOptions"]["Override"] is True
        for header in (policy_config.get("CustomHeadersConfig") or {}).get("Items", []):
            cache_controls.add(header["Value"])
    assert cache_controls == {"no-cache", "public, max-age=31536000, immutable"}
    csp = json.dumps([c["SecurityHeadersConfig"]["ContentSecurityPolicy"] for c in headers.values()])
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert "connect-src 'self' https://" in csp and "amazoncognito.com" in csp


def test_config_json_is_written_at_deploy_with_the_sign_in(synthesized: Synthesized) -> None:
    template = synthesized.raw["console"]
    [deployment] = _resources(template, "Custom::CDKBucketDeployment")
    props = deployment["Properties"]
    assert len(props["SourceObjectKeys"]) == 2  # the build (or its placeholder) and config.json
    assert props["Prune"] is True
    markers = json.dumps(props["SourceMarkers"])
    [client] = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Cognito::UserPoolClient"]
    [domain] = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Cognito::UserPoolDomain"]
    for value in (json.dumps({"Ref": client}), json.dumps({"Ref": domain}), '"DomainName"'):
        assert value in markers, value
    # The deployment runs in the isolated subnets like every loglens function (tests/infra/test_pipeline.py)
    handler = next(
        r for r in _resources(template, "AWS::Lambda::Function") if "VpcConfig" in r["Properties"]
    )
    assert "isolatedSubnet" in json.dumps(handler["Properties"]["VpcConfig"])


def test_slack_links_only_when_a_console_url_is_configured(synthesized: Synthesized) -> None:
    ask = next(
        f
        for _, _, f in synthesized.all_resources("AWS::Lambda::Function")
        if f["Properties"]["Handler"] == "ask.handler"
    )
    assert "LOGLENS_CONSOLE_URL" not in ask["Properties"]["Environment"]["Variables"]  # cdk.json console.url: null
    context = cdk_json_context()
    context["loglens"]["stages"]["dev"]["console"] = {"url": "http://console.example.com"}
    with pytest.raises(ValueError, match=r"console\.url"):
        load_config({**context, "stage": "dev"}.get)


def _console_only(dist: Path) -> tuple[Template, Annotations]:
    context = cdk_json_context()
    context["aws:cdk:disable-asset-staging"] = True
    app = cdk.App(context=context)
    config = load_config(app.node.try_get_context)
    env = cdk.Environment(region=config.region)
    network = NetworkStack(app, "network", config=config, env=env)
    arns = {
        name: f"arn:aws:lambda:{config.region}:123456789012:function:loglens-{name}" for name in ("query", "ask")
    }
    stack = ConsoleStack(app, "console", config=config, network=network, functions=arns, dist=dist, env=env)
    return Template.from_stack(stack), Annotations.from_stack(stack)


def test_synth_works_offline_without_the_console_built(tmp_path: Path) -> None:
    # Not built: synth still works, deploys a page saying how to build it, and warns
    template, annotations = _console_only(tmp_path / "no-dist")
    annotations.has_warning("*", Match.string_like_regexp("clients/console/dist is not built"))
    template.resource_count_is("Custom::CDKBucketDeployment", 1)
    # Built: the folder itself is the asset, and nothing is said
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>loglens</title>")
    template, annotations = _console_only(dist)
    assert not annotations.find_warning("*", Match.string_like_regexp("not built"))
    template.resource_count_is("Custom::CDKBucketDeployment", 1)
