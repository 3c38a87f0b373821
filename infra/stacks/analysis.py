"""Analysis stack: the ask function behind its own query API, the alerts function, and the secrets they read.

The query API is a separate REST API (not routes on the ingest API) on purpose: ingest keys
live in browsers and app configs, and API Gateway lets any key on any usage plan of a stage
call every key-protected method of that stage. A separate API means an ingest key can never ask
questions about everyone's logs; the ask usage plan and its keys belong to analysts.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.components.alerting import AlertDelivery
from infra.components.common import removal_policy
from infra.components.database import ALERTER_LOGIN, ANALYST_LOGIN, WRITER_LOGIN, Database
from infra.components.functions import LoglensFunction
from infra.components.network import IsolatedNetwork
from infra.components.rest_api import LoglensRestApi
from infra.components.schedules import ScheduledTask
from infra.config import LoglensConfig
from infra.nag import acknowledge
from infra.stacks.data import DataStack
from infra.stacks.network import NetworkStack

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
            self._grant_bedrock(self.ask, config.model.model_id)
        self._alerts(config, net, database)

        self.api = LoglensRestApi(
            self,
            "QueryApi",
            config=config,
            name="query",
            description="loglens query API (ask)",
            rate_limit=config.api.ask_rate_limit,
            burst_limit=config.api.ask_burst_limit,
            quota_per_day=config.api.ask_quota_per_day,
        )
        self.api.add_route("/api/v1/ask", "POST", self.ask.function)
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

        # The alert message's buttons: Slack's interactivity requests carry no API key, only Slack's signature.
        actions_route = self.api.add_route(
            "/slack/actions",
            "POST",
            self.alerts.function,
            api_key_required=False,
            required_headers=("X-Slack-Signature", "X-Slack-Request-Timestamp"),
        )
        actions_reason = (
            "Slack's interactivity requests (the alert's acknowledge and mute buttons) carry no API key or AWS "
            "credentials; the alerts handler verifies Slack's v0 HMAC signature and timestamp before anything else."
        )
        acknowledge(actions_route, "AwsSolutions-APIG4", actions_reason)
        acknowledge(actions_route, "AwsSolutions-COG4", actions_reason)

        CfnOutput(self, "QueryApiUrl", value=self.api.api.url, description="Base URL of the query API")
        CfnOutput(
            self,
            "AskUsagePlanId",
            value=self.api.usage_plan.usage_plan_id,
            description="Attach analysts' API keys to this usage plan (docs/deploy.md)",
        )
        CfnOutput(self, "AnthropicSecretArn", value=self.anthropic_secret.secret_arn)
        CfnOutput(self, "SlackSigningSecretArn", value=self.slack_secret.secret_arn)
        CfnOutput(self, "AlertsSlackSecretArn", value=self.alert_delivery.slack_secret.secret_arn)
        CfnOutput(self, "AlertsTopicArn", value=self.alert_delivery.topic.topic_arn)

    def _alerts(self, config: LoglensConfig, net: IsolatedNetwork, database: Database) -> None:
        """The alerts function: detectors every 5 minutes, the digest daily, and the Slack buttons' route."""

        self.alert_delivery = AlertDelivery(self, "AlertDelivery", config=config)
        alerts = config.alerts
        environment = {
            **database.connection_environment(ALERTER_LOGIN),
            # The model's guarded queries run as the analyst, like ask's; detection and state as the alerter.
            "ANALYST_DB_USER": ANALYST_LOGIN,
            "ALERTS_SLACK_SECRET_ARN": self.alert_delivery.slack_secret.secret_arn,
            "ALERTS_TOPIC_ARN": self.alert_delivery.topic.topic_arn,
            "ANTHROPIC_SECRET_ARN": self.anthropic_secret.secret_arn,
            "MODEL_PROVIDER": config.model.provider,
            "MODEL_ID": config.model.model_id,
            "LOGLENS_ALERT_EXPLAIN_WITH_MODEL": "true" if alerts.explain_with_model else "false",
        }
        if alerts.console_url:
            environment["LOGLENS_CONSOLE_URL"] = alerts.console_url
        if alerts.services:
            environment["LOGLENS_ALERT_SERVICES"] = json.dumps(alerts.services, sort_keys=True)
        self.alerts = LoglensFunction(
            self,
            "Alerts",
            config=config,
            module="alerts",
            description="loglens: detect incidents in the logs, explain them, send them to Slack or e-mail",
            # The egress group when the stage has one (Slack's webhook is on the internet), else isolated with SNS.
            **net.function_placement(net.ask_subnets),
            environment=environment,
        )
        database.grant_connect(self.alerts.role, ALERTER_LOGIN)
        database.grant_connect(self.alerts.role, ANALYST_LOGIN)
        self.alert_delivery.grant_send(self.alerts)
        if alerts.explain_with_model:
            if config.model.provider == "bedrock":
                self._grant_bedrock(self.alerts, config.model.model_id)
            else:
                self.anthropic_secret.grant_read(self.alerts.role)
        ScheduledTask(
            self,
            "AlertsDetect",
            schedule=alerts.schedule,
            handler=self.alerts.function,
            payload={"task": "detect"},
            description="loglens: run the incident detectors",
        )
        ScheduledTask(
            self,
            "AlertsDigest",
            schedule=alerts.digest_schedule,
            handler=self.alerts.function,
            payload={"task": "digest"},
            description="loglens: send yesterday's digest",
        )

    def _grant_bedrock(self, function: LoglensFunction, model_id: str) -> None:
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
            function.grant(actions, [model_arn])
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
        function.grant(actions, [profile_arn])
        function.grant(
            actions,
            [any_region_model_arn],
            conditions={"StringLike": {"bedrock:InferenceProfileArn": profile_arn}},
            wildcard_reason="A cross-region inference profile serves requests from any region of its geography; "
            "the statement names one model and applies only through this account's profile.",
        )
