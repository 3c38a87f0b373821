"""The deployed APIs give the answers `loglens dev` gives: the same routes and keys as the OpenAPI document,
bodies passed through intact, and API Gateway's own errors in the one {"error": "..."} shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loglens.http.gateway import FORBIDDEN, GATEWAY_ANSWERS, NO_ROUTE, TOO_LARGE
from loglens.openapi import document
from tests.infra.conftest import Synthesized
from tests.infra.test_security import _resource_paths

API_PARTS = {"ingest": "ingest", "query": "analysis"}  # OpenAPI tag → stack part


def _methods(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    paths = _resource_paths(template)
    out = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ApiGateway::Method" and resource["Properties"]["HttpMethod"] != "OPTIONS":
            props = resource["Properties"]
            out[(props["HttpMethod"], paths[json.dumps(props["ResourceId"])])] = props
    return out


def test_every_documented_operation_is_deployed_with_the_documented_key_rule(
    synthesized: Synthesized, synthesized_with_egress: Synthesized
) -> None:
    # With internet egress everything documented is deployed; without it, all but the Slack routes
    # (its answers could not reach Slack: test_hardening checks the synthesis says so).
    assert_documented_routes_deployed(synthesized_with_egress, undeployed=set())
    assert_documented_routes_deployed(synthesized, undeployed={("POST", "/slack/commands"), ("POST", "/slack/actions")})


def assert_documented_routes_deployed(synthesized: Synthesized, *, undeployed: set[tuple[str, str]]) -> None:
    doc = document()
    deployed = {part: _methods(synthesized.raw[part]) for part in API_PARTS.values()}
    documented: dict[str, set[tuple[str, str]]] = {part: set() for part in API_PARTS.values()}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            [tag] = operation["tags"]
            part = API_PARTS[tag]
            key = (method.upper(), path)
            if key in undeployed:
                assert key not in deployed[part], f"{key} is deployed although it should not be here"
                continue
            documented[part].add(key)
            assert key in deployed[part], f"{key} is documented but not deployed on the {part} API"
            needs_key = operation.get("security", doc["security"]) != []
            assert deployed[part][key].get("ApiKeyRequired", False) is needs_key, key
    for part, methods in deployed.items():
        assert set(methods) <= documented[part], f"undocumented routes on the {part} API"


def test_the_ingest_api_passes_every_body_through_as_binary(synthesized: Synthesized) -> None:
    # gzip and protobuf must reach collect byte for byte (base64 in the event), as `loglens dev` passes them.
    synthesized.templates["ingest"].has_resource_properties("AWS::ApiGateway::RestApi", {"BinaryMediaTypes": ["*/*"]})


@pytest.mark.parametrize("part", sorted(API_PARTS.values()))
def test_api_gateways_own_answers_are_json_errors(synthesized: Synthesized, part: str) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.raw[part]["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::GatewayResponse"
    }
    assert set(responses) == set(GATEWAY_ANSWERS)
    for kind, answer in GATEWAY_ANSWERS.items():
        props = responses[kind]
        assert props.get("StatusCode") == (str(answer.status) if answer.status is not None else None), kind
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
        template = props["ResponseTemplates"]["application/json"]
        if answer.message is None:
            assert template == '{"error": $context.error.messageString}'
        else:  # a literal: the same text `loglens dev` answers, valid JSON once Velocity has run
            assert json.loads(template.replace("\\$", "$").replace("\\#", "#")) == {"error": answer.message}


def test_the_answers_that_matter_most_to_clients(synthesized: Synthesized) -> None:
    # A client splits a batch on 413, fixes its key on 403, and backs off on 429; none of those is a 5xx.
    answers = {kind: (a.status, a.message) for kind, a in GATEWAY_ANSWERS.items()}
    assert answers["REQUEST_TOO_LARGE"] == (413, TOO_LARGE)
    assert answers["INVALID_API_KEY"] == (403, FORBIDDEN)
    assert answers["MISSING_AUTHENTICATION_TOKEN"] == (404, NO_ROUTE)
    assert answers["THROTTLED"][0] == answers["QUOTA_EXCEEDED"][0] == 429
    ingest = synthesized.raw["ingest"]["Resources"]
    cors = [
        r["Properties"]["ResponseParameters"].get("gatewayresponse.header.Access-Control-Allow-Origin")
        for r in ingest.values()
        if r["Type"] == "AWS::ApiGateway::GatewayResponse"
    ]
    assert all(cors), "browsers can read the ingest API's errors only with CORS headers"


def test_otlp_requires_a_content_type_at_the_edge(synthesized: Synthesized) -> None:
    methods = _methods(synthesized.raw["ingest"])
    assert methods[("POST", "/otlp/v1/logs")]["RequestParameters"] == {"method.request.header.Content-Type": True}
