"""Analysis stack: the ask and query functions behind their own query API, the alerts function, and the
secrets they read.

The query API is a separate REST API (not routes on the ingest API) on purpose: ingest keys
live in browsers and app configs, and API Gateway lets any key on any usage plan of a stage
call every key-protected method of that stage. A separate API means an ingest key can never ask
questions about everyone's logs; the ask usage plan and its keys belong to analysts.

Routes: POST /api/v1/ask (200 with the answer, or 202 with an id when it takes longer than the
gateway waits) and GET /api/v1/ask/{id}; POST /slack/commands only where answers can reach Slack
(internet_egress on: Slack's response_url is on the internet), else the route is left out and the
synthesis says why, since a Slack app pointed at it would only ever see an acknowledgement. The query
routes (loglens.query.api: search, SQL, tail, facts, saved entries, shared answers) are served by
their own small function on the same API and keys; a key is held to ask's rate on POST /api/v1/ask
(each question calls the model) and to the query rate and daily quota on the API as a whole.

Lake-only (no database, no VPC): the function is outside any VPC, so it reaches the model, Slack and
Athena like any Lambda, the Slack route is deployed, and its state (conversations, HTTP answers, Slack
replay claims) is in a DynamoDB table (infra/components/ask_state.py) instead of PostgreSQL. There is
no query function or console there (they read PostgreSQL), so no shared answers either.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.components.alerting import AlertDelivery
from infra.components.ask_state import AskState
from infra.components.bedrock import INVOKE_ACTIONS, model_arns
from infra.components.common import removal_policy, secret_name
from infra.components.database import ALERTER_LOGIN, ANALYST_LOGIN, WRITER_LOGIN, Database
from infra.components.functions import LoglensFunction
from infra.components.network import IsolatedNetwork
from infra.components.rest_api import LoglensRestApi
from infra.components.schedules import ScheduledTask
from infra.config import LoglensConfig
from infra.nag import acknowledge
from infra.stacks.data import DataStack
from infra.stacks.lake import LakeStack
from infra.stacks.network import NetworkStack
from loglens.query.routes import ROUTES as QUERY_ROUTES

ASK_PATH = "/api/v1/ask"

SLACK_ROUTE = "/slack/commands"
NO_SLACK_WARNING = (
    "loglens: the Slack route /slack/commands is not deployed because internet_egress is off in cdk.json: the ask "
    "function could acknowledge a slash command but never post the answer to Slack's response_url, which is on the "
    "internet. Set internet_egress to true (one NAT gateway, used by the ask function only) to deploy it."
)


class AnalysisStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        network: NetworkStack | None,
        data: DataStack | None,
        lake: LakeStack | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        database = data.database if data is not None else None
        removal = removal_policy(config)
        # Outside a VPC (lake-only) the function reaches Slack's response_url without a NAT gateway.
        slack = config.internet_egress or database is None

        # Created with a random placeholder; ops put the real values after deploy (docs/deploy.md).
        self.anthropic_secret = secretsmanager.Secret(
            self,
            "AnthropicApiKey",
            secret_name=secret_name(config, "anthropic-api-key"),
            description=f"loglens {config.stage}: Anthropic API key (plain string), set after deploy",
            removal_policy=removal,
        )
        vendor_secrets = [(self.anthropic_secret, "Anthropic")]
        self.slack_secret: secretsmanager.Secret | None = None
        if slack:
            self.slack_secret = secretsmanager.Secret(
                self,
                "SlackSigningSecret",
                secret_name=secret_name(config, "slack-signing-secret"),
                description=f"loglens {config.stage}: Slack app signing secret (plain string), set after deploy",
                removal_policy=removal,
            )
            vendor_secrets.append((self.slack_secret, "Slack"))
        for secret, vendor in vendor_secrets:
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                f"This holds a credential issued by {vendor}; it can only be rotated in {vendor}'s console, "
                "after which ops put the new value (docs/deploy.md), so no rotation Lambda can do it.",
            )

        # The tools the agent gets follow from what is configured here (loglens.lake.settings.tiers):
        # the database's variables give it run_query, LOGLENS_LAKE=athena gives it the lake's tool.
        environment = {
            "ANTHROPIC_SECRET_ARN": self.anthropic_secret.secret_arn,
            **({"SLACK_SECRET_ARN": self.slack_secret.secret_arn} if self.slack_secret else {}),
            "MODEL_PROVIDER": config.model.provider,
            "MODEL_ID": config.model.model_id,
        }
        if database is not None:
            environment |= {
                **database.connection_environment(ANALYST_LOGIN),
                # Conversation turns and HTTP answers are stored by the writer login: the analyst stays read-only.
                "CONVERSATION_DB_USER": WRITER_LOGIN,
            }
        # Slack answers link to the web console once its address is known (cdk.json); lake-only has no console.
        if config.console.url and database is not None:
            environment["LOGLENS_CONSOLE_URL"] = config.console.url
        self.state: AskState | None = None
        if database is None:
            self.state = AskState(self, "AskState", config=config)
            environment["ASK_STATE_TABLE"] = self.state.table.table_name
        if lake is not None:
            environment |= {
                "LOGLENS_LAKE": "athena",
                "ATHENA_WORKGROUP": lake.storage.workgroup_name,
                "LAKE_DATABASE": lake.storage.database_name,
                "LAKE_TABLE": lake.storage.table_name,
            }
        placement = network.network.function_placement(network.network.ask_subnets) if network is not None else {}
        self.ask = LoglensFunction(
            self,
            "Ask",
            config=config,
            module="ask",
            description="loglens: answer questions about the logs (HTTP and Slack)",
            **placement,
            environment=environment,
        )
        if database is not None:
            database.grant_connect(self.ask.role, ANALYST_LOGIN)
            database.grant_connect(self.ask.role, WRITER_LOGIN)
        if self.state is not None:
            self.state.grant(self.ask.role)
        if lake is not None:
            # Athena's query actions on the one workgroup, read on the table, results under results/, the key.
            lake.storage.grant_query(self, self.ask.role, construct_id="AskLakeQuery")
        for secret, _ in vendor_secrets:
            secret.grant_read(self.ask.role)
        # HTTP asks that outlive their request and Slack's answers run in the function's own asynchronous
        # invocation. A separate policy (not the role's default one, which the function depends on) can name
        # the function's own ARN without a circular reference.
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

        # The query API without a model: guarded SQL as the analyst login; saved entries and shared answers as
        # the writer (the analyst stays read-only). No secrets, no internet: the isolated subnets.
        # A lake-only stage has no database: no query function (search, SQL and tail read PostgreSQL).
        self.query: LoglensFunction | None = None
        if database is not None and network is not None:
            self.query = LoglensFunction(
                self,
                "Query",
                config=config,
                module="query",
                description="loglens: search, SQL, live tail and saved queries, without a model",
                **network.network.function_placement(),
                environment={**database.connection_environment(ANALYST_LOGIN), "SAVED_DB_USER": WRITER_LOGIN},
            )
            database.grant_connect(self.query.role, ANALYST_LOGIN)
            database.grant_connect(self.query.role, WRITER_LOGIN)
        # The alerts function reads the rollups in PostgreSQL: none on a lake-only stage.
        self.alerts: LoglensFunction | None = None
        if database is not None and network is not None:
            self._alerts(config, network.network, database)

        api = config.api
        self.api = LoglensRestApi(
            self,
            "QueryApi",
            config=config,
            name="query",
            description="loglens query API (ask, search, SQL, tail)",
            rate_limit=api.query_rate_limit,
            burst_limit=api.query_burst_limit,
            quota_per_day=api.query_quota_per_day,
            stage_rate_limit=api.ask_stage_rate_limit,
            stage_burst_limit=api.ask_stage_burst_limit,
            method_throttles={f"{SLACK_ROUTE}/POST": (api.slack_rate_limit, api.slack_burst_limit)} if slack else None,
            key_method_throttles={(ASK_PATH, "POST"): (api.ask_rate_limit, api.ask_burst_limit)},
        )
        self.api.add_route(ASK_PATH, "POST", self.ask.function)
        self.api.add_route(f"{ASK_PATH}/{{id}}", "GET", self.ask.function)
        # Lake-only, the ask function answers the query routes with a 404 that says what to use instead
        # (loglens.agent.lake_only), so `loglens sql --url` and friends get a reason, not API Gateway's 403.
        for path, method in QUERY_ROUTES:
            self.api.add_route(path, method, (self.query or self.ask).function)
        if self.alerts is not None and slack:  # the buttons only where the alerts can reach Slack at all
            self._alerts_route()
        if slack:
            self._add_slack_route()
        else:
            Annotations.of(self).add_warning_v2("loglens:slack-route-omitted", NO_SLACK_WARNING)

        CfnOutput(self, "QueryApiUrl", value=self.api.api.url, description="Base URL of the query API")
        CfnOutput(
            self,
            "AskUsagePlanId",
            value=self.api.usage_plan.usage_plan_id,
            description="Attach analysts' API keys to this usage plan (docs/deploy.md)",
        )
        CfnOutput(self, "AnthropicSecretArn", value=self.anthropic_secret.secret_arn)
        if self.slack_secret is not None:
            CfnOutput(self, "SlackSigningSecretArn", value=self.slack_secret.secret_arn)
        if self.alerts is not None:
            CfnOutput(self, "AlertsSlackSecretArn", value=self.alert_delivery.slack_secret.secret_arn)
            CfnOutput(self, "AlertsTopicArn", value=self.alert_delivery.topic.topic_arn)

    def _add_slack_route(self) -> None:
        # Slack cannot send an API key. The ask handler authenticates every request instead by
        # verifying Slack's v0 signature (HMAC-SHA256 of the raw body with the signing secret,
        # 5-minute timestamp window, constant-time compare); the edge only insists both headers exist,
        # and the method has its own throttle (LoglensRestApi), since no usage plan covers it.
        slack_route = self.api.add_route(
            SLACK_ROUTE,
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

    def _alerts_route(self) -> None:
        """The alert message's buttons: Slack's interactivity requests carry no API key, only Slack's signature."""
        assert self.alerts is not None
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
        arns = model_arns(Stack.of(self), model_id)
        actions = list(INVOKE_ACTIONS)
        if arns.profile is None:
            function.grant(actions, [arns.model])
            return
        function.grant(actions, [arns.profile])
        function.grant(
            actions,
            [arns.model],
            conditions={"StringLike": {"bedrock:InferenceProfileArn": arns.profile}},
            wildcard_reason="A cross-region inference profile serves requests from any region of its geography; "
            "the statement names one model and applies only through this account's profile.",
        )
