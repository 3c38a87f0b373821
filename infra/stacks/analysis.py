"""Analysis stack: the ask and query functions behind their own query API, and the secrets ask reads.

The query API is a separate REST API (not routes on the ingest API) on purpose: ingest keys
live in browsers and app configs, and API Gateway lets any key on any usage plan of a stage
call every key-protected method of that stage. A separate API means an ingest key can never ask
questions about everyone's logs; the ask usage plan and its keys belong to analysts. The query
routes (loglens.query.api: search, SQL, tail, facts, saved entries, shared answers) are served by
their own small function on the same API and keys; a key is held to ask's rate on POST /api/v1/ask
(each question calls the model) and to the query rate and daily quota on the API as a whole.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.components.common import removal_policy
from infra.components.database import ANALYST_LOGIN, WRITER_LOGIN
from infra.components.functions import LoglensFunction
from infra.components.rest_api import LoglensRestApi
from infra.config import LoglensConfig
from infra.nag import acknowledge
from infra.stacks.data import DataStack
from infra.stacks.network import NetworkStack
from loglens.query.routes import ROUTES as QUERY_ROUTES

ASK_PATH = "/api/v1/ask"

# Cross-region inference profiles start with their geography; the bare model id follows.
_INFERENCE_PROFILE_PREFIXES = ("global.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.")


class AnalysisStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        network: NetworkStack,
        data: DataStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        net = network.network
        database = data.database
        removal = removal_policy(config)

        # Created with a random placeholder; ops put the real values after deploy (docs/deploy.md).
        self.anthropic_secret = secretsmanager.Secret(
            self,
            "AnthropicApiKey",
            description=f"loglens {config.stage}: Anthropic API key (plain string), set after deploy",
            removal_policy=removal,
        )
        self.slack_secret = secretsmanager.Secret(
            self,
            "SlackSigningSecret",
            description=f"loglens {config.stage}: Slack app signing secret (plain string), set after deploy",
            removal_policy=removal,
        )
        for secret, vendor in ((self.anthropic_secret, "Anthropic"), (self.slack_secret, "Slack")):
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                f"This holds a credential issued by {vendor}; it can only be rotated in {vendor}'s console, "
                "after which ops put the new value (docs/deploy.md), so no rotation Lambda can do it.",
            )

        self.ask = LoglensFunction(
            self,
            "Ask",
            config=config,
            module="ask",
            description="loglens: answer questions about the logs (HTTP and Slack)",
            **net.function_placement(net.ask_subnets),
            environment={
                "ANTHROPIC_SECRET_ARN": self.anthropic_secret.secret_arn,
                "SLACK_SECRET_ARN": self.slack_secret.secret_arn,
                "MODEL_PROVIDER": config.model.provider,
                "MODEL_ID": config.model.model_id,
                **database.connection_environment(ANALYST_LOGIN),
                # Conversation turns are stored by the writer login: the analyst stays read-only.
                "CONVERSATION_DB_USER": WRITER_LOGIN,
                # Slack answers link to the web console once its address is known (cdk.json console.url).
                **({"LOGLENS_CONSOLE_URL": config.console.url} if config.console.url else {}),
            },
        )
        database.grant_connect(self.ask.role, ANALYST_LOGIN)
        database.grant_connect(self.ask.role, WRITER_LOGIN)
        self.anthropic_secret.grant_read(self.ask.role)
        self.slack_secret.grant_read(self.ask.role)
        # Slack's ack must return within 3 s, so the function re-invokes itself asynchronously for
        # the work. A separate policy (not the role's default one, which the function depends on)
        # can name the function's own ARN without a circular reference.
        iam.Policy(
            self,
            "AskSelfInvoke",
            roles=[self.ask.role],
            statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.ask.function.function_arn])
            ],
        )
        if config.model.provider == "bedrock":
            self._grant_bedrock(config.model.model_id)

        # The query API without a model: guarded SQL as the analyst login; saved entries and shared answers as
        # the writer (the analyst stays read-only). No secrets, no internet: the isolated subnets.
        self.query = LoglensFunction(
            self,
            "Query",
            config=config,
            module="query",
            description="loglens: search, SQL, live tail and saved queries, without a model",
            **net.function_placement(),
            environment={**database.connection_environment(ANALYST_LOGIN), "SAVED_DB_USER": WRITER_LOGIN},
        )
        database.grant_connect(self.query.role, ANALYST_LOGIN)
        database.grant_connect(self.query.role, WRITER_LOGIN)

        self.api = LoglensRestApi(
            self,
            "QueryApi",
            config=config,
            name="query",
            description="loglens query API (ask, search, SQL, tail)",
            rate_limit=config.api.query_rate_limit,
            burst_limit=config.api.query_burst_limit,
            quota_per_day=config.api.query_quota_per_day,
            key_method_throttles={(ASK_PATH, "POST"): (config.api.ask_rate_limit, config.api.ask_burst_limit)},
        )
        self.api.add_route(ASK_PATH, "POST", self.ask.function)
        for path, method in QUERY_ROUTES:
            self.api.add_route(path, method, self.query.function)
        # Slack cannot send an API key. The ask handler authenticates every request instead by
        # verifying Slack's v0 signature (HMAC-SHA256 of the raw body with the signing secret,
        # 5-minute timestamp window, constant-time compare); the edge only insists both headers exist.
        slack_route = self.api.add_route(
            "/slack/commands",
            "POST",
            self.ask.function,
            api_key_required=False,
            required_headers=("X-Slack-Signature", "X-Slack-Request-Timestamp"),
        )
        slack_reason = (
            "Slack's slash-command requests carry no API key or AWS credentials; the ask handler verifies "
            "Slack's v0 HMAC signature and timestamp on every request before doing anything."
        )
        acknowledge(slack_route, "AwsSolutions-APIG4", slack_reason)
        acknowledge(slack_route, "AwsSolutions-COG4", slack_reason)

        CfnOutput(self, "QueryApiUrl", value=self.api.api.url, description="Base URL of the query API")
        CfnOutput(
            self,
            "AskUsagePlanId",
            value=self.api.usage_plan.usage_plan_id,
            description="Attach analysts' API keys to this usage plan (docs/deploy.md)",
        )
        CfnOutput(self, "AnthropicSecretArn", value=self.anthropic_secret.secret_arn)
        CfnOutput(self, "SlackSigningSecretArn", value=self.slack_secret.secret_arn)

    def _grant_bedrock(self, model_id: str) -> None:
        stack = Stack.of(self)
        actions = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
        profile = model_id.startswith(_INFERENCE_PROFILE_PREFIXES)
        if not profile:
            model_arn = stack.format_arn(
                service="bedrock",
                account="",
                resource="foundation-model",
                resource_name=model_id,
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
            self.ask.grant(actions, [model_arn])
            return
        base_model = model_id.split(".", 1)[1]
        profile_arn = stack.format_arn(
            service="bedrock",
            resource="inference-profile",
            resource_name=model_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        # The profile routes each request to any region of its geography, so the model ARN's region is open.
        any_region_model_arn = stack.format_arn(
            service="bedrock",
            region="*",
            account="",
            resource="foundation-model",
            resource_name=base_model,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.ask.grant(actions, [profile_arn])
        self.ask.grant(
            actions,
            [any_region_model_arn],
            conditions={"StringLike": {"bedrock:InferenceProfileArn": profile_arn}},
            wildcard_reason="A cross-region inference profile serves requests from any region of its geography; "
            "the statement names one model and applies only through this account's profile.",
        )
