"""A REST API with loglens' defaults, shared by the ingest API and the query (ask) API.

REST (not HTTP) APIs because API keys, usage plans, per-client throttling and request validation
exist only there. Every method requires an API key unless a route says otherwise and why, or names
the authorizer that checks its callers instead (the console's API: Cognito sign-in, no keys at all).
Defaults: regional endpoint, JSON access logs to our own log group, ERROR execution logs without
bodies (they may hold personal data), X-Ray, throttling and a parameter validator.

Throttling has three levels: each API key's usage plan (one client's share), the stage (every client
together, so above any one key's limit: one key can use its whole share while others still get
theirs), and a method's own limit for a route that no key protects (Slack's: its callers are
unauthenticated until the handler checks the signature, so they get a small budget of their own).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.components.common import log_group
from infra.config import LoglensConfig
from infra.nag import acknowledge
from loglens.http.gateway import GATEWAY_ANSWERS

CORS_ALLOW_HEADERS = ["Content-Type", "Content-Encoding", "X-Api-Key", "X-Amz-Date", "Authorization"]

_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integration.latency",
    "apiKeyId": "$context.identity.apiKeyId",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "errorMessage": "$context.error.message",
    "validationError": "$context.error.validationErrorString",
}


class ApiGatewayAccountLogging(Construct):
    """The account-wide role API Gateway uses to write execution logs (one per account and region)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway execution logging to CloudWatch Logs (account setting)",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
            ],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway names its execution log groups itself (API-Gateway-Execution-Logs_<api>/<stage>); "
            "AWS documents this managed policy for the account's logging role.",
        )
        account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=role.role_arn)
        # Other apps in the account may rely on the setting; leave it in place on tear-down.
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        role.apply_removal_policy(RemovalPolicy.RETAIN)


class LoglensRestApi(Construct):
    """A RestApi, its stage and a usage plan, with routes added through ``add_route``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        name: str,
        description: str,
        rate_limit: int,
        burst_limit: int,
        quota_per_day: int | None,
        stage_rate_limit: int,
        stage_burst_limit: int,
        method_throttles: Mapping[str, tuple[int, int]] | None = None,
        binary_media_types: Sequence[str] = (),
        cors_allow_origin: str | None = None,
        key_method_throttles: Mapping[tuple[str, str], tuple[int, int]] | None = None,
    ) -> None:
        """rate/burst/quota are per API key (quota None: an API without keys, so no usage plan); stage_* for
        everyone; method_throttles {"/path/METHOD": (rate, burst)} for everyone on one method;
        key_method_throttles {(path, METHOD): (rate, burst)} hold each key to less on one method."""
        super().__init__(scope, construct_id)
        if stage_rate_limit <= rate_limit or stage_burst_limit <= burst_limit:
            raise ValueError(f"{name}: the stage's throttle must be above one API key's ({rate_limit}/{burst_limit})")
        for method, (method_rate, method_burst) in (method_throttles or {}).items():
            if method_rate > stage_rate_limit or method_burst > stage_burst_limit:
                raise ValueError(f"{name}: {method}'s throttle must not exceed the stage's")
        self._cors_allow_origin = cors_allow_origin
        self.access_logs = log_group(self, "AccessLogs", config)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"loglens-{config.stage}-{name}",
            description=description,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            binary_media_types=list(binary_media_types) or None,
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            # The account-wide logging role is set once, in the network stack.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=config.stage,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FIELDS)),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=stage_rate_limit,
                throttling_burst_limit=stage_burst_limit,
                method_options={
                    path: apigw.MethodDeploymentOptions(throttling_rate_limit=rate, throttling_burst_limit=burst)
                    for path, (rate, burst) in (method_throttles or {}).items()
                }
                or None,
            ),
        )
        acknowledge(
            self.api.deployment_stage,
            "AwsSolutions-APIG3",
            "No WAF web ACL by default: every route needs an API key or a Cognito sign-in (Slack's: a verified HMAC "
            "signature), and usage plans or the stage throttle callers; a web ACL can be associated later.",
        )
        # Body validation only acts on methods with a request model; none has one today, because
        # the handlers answer malformed bodies with per-record reasons that a model cannot give.
        self.validator = self.api.add_request_validator(
            "Validator", validate_request_parameters=True, validate_request_body=True
        )
        self._usage_plan: apigw.UsagePlan | None = None
        if quota_per_day is not None:
            self._usage_plan = self.api.add_usage_plan(
                "UsagePlan",
                name=f"loglens-{config.stage}-{name}",
                description=f"{description}: throttle and daily quota per API key",
                throttle=apigw.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
                quota=apigw.QuotaSettings(limit=quota_per_day, period=apigw.Period.DAY),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
            )
            if key_method_throttles:
                # Keyed "<path>/<METHOD>" as CloudFormation reads them: no Method object is needed up front.
                plan = self._usage_plan.node.default_child
                assert isinstance(plan, apigw.CfnUsagePlan)
                plan.add_property_override(
                    "ApiStages.0.Throttle",
                    {
                        f"{path}/{verb}": {"RateLimit": rate, "BurstLimit": burst}
                        for (path, verb), (rate, burst) in key_method_throttles.items()
                    },
                )
        # API Gateway's own answers (no route, no key, too large, throttled, ...) in the one error shape, with
        # the texts `loglens dev` gives (loglens.http.gateway); browsers can read them only with CORS headers.
        headers = {"Content-Type": "'application/json'"}
        if cors_allow_origin is not None:
            headers["Access-Control-Allow-Origin"] = f"'{cors_allow_origin}'"
        for response_type, answer in GATEWAY_ANSWERS.items():
            self.api.add_gateway_response(
                "Gateway" + "".join(part.capitalize() for part in response_type.split("_")),
                type=apigw.ResponseType.of(response_type),
                status_code=str(answer.status) if answer.status is not None else None,
                templates={"application/json": answer.template()},
                response_headers=headers,
            )

    @property
    def usage_plan(self) -> apigw.UsagePlan:
        if self._usage_plan is None:
            raise ValueError("this API has no API keys, so no usage plan")
        return self._usage_plan

    def resource(self, path: str) -> apigw.IResource:
        return self.api.root.resource_for_path(path)

    def add_route(
        self,
        path: str,
        method: str,
        handler: lambda_.IFunction,
        *,
        api_key_required: bool = True,
        required_headers: Sequence[str] = (),
        authorizer: apigw.IAuthorizer | None = None,
    ) -> apigw.Method:
        """A Lambda proxy route. With api_key_required=False the caller must document the alternative check,
        or name the `authorizer` (Cognito) that makes it."""
        resource = self.resource(path)
        if self._cors_allow_origin is not None and resource.node.try_find_child("OPTIONS") is None:
            self._add_preflight(resource)
        if authorizer is not None:
            api_key_required = False
        route = resource.add_method(
            method,
            apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False),
            api_key_required=api_key_required,
            authorizer=authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO if authorizer is not None else None,
            request_validator=self.validator if required_headers else None,
            request_parameters={f"method.request.header.{name}": True for name in required_headers} or None,
        )
        if api_key_required:
            reason = (
                "Clients are machines and browsers identified by API keys with per-key usage plans; IAM or "
                "Cognito sign-in does not fit log shippers and SDKs, and loglens has no user directory."
            )
            acknowledge(route, "AwsSolutions-APIG4", reason)
            acknowledge(route, "AwsSolutions-COG4", reason)
        return route

    def _add_preflight(self, resource: apigw.IResource) -> None:
        # Written out instead of add_cors_preflight: with binary media type */* a MOCK integration
        # must convert its (empty) body to text, or API Gateway answers every preflight with 500.
        headers = {
            "Access-Control-Allow-Origin": f"'{self._cors_allow_origin}'",
            "Access-Control-Allow-Headers": f"'{','.join(CORS_ALLOW_HEADERS)}'",
            "Access-Control-Allow-Methods": "'OPTIONS,GET,POST'",
            "Access-Control-Max-Age": "'600'",
        }
        resource.add_method(
            "OPTIONS",
            apigw.MockIntegration(
                content_handling=apigw.ContentHandling.CONVERT_TO_TEXT,
                passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_MATCH,
                request_templates={"application/json": '{"statusCode": 204}'},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="204",
                        response_parameters={f"method.response.header.{k}": v for k, v in headers.items()},
                    )
                ],
            ),
            method_responses=[
                apigw.MethodResponse(
                    status_code="204",
                    response_parameters={f"method.response.header.{k}": True for k in headers},
                )
            ],
            # A browser's preflight cannot carry the API key; it reaches only this MOCK integration.
            api_key_required=False,
        )
