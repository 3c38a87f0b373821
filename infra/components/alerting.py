"""Where the alerts function sends incidents: a Slack secret set after deploy, and an encrypted SNS topic for e-mail.

The secret holds JSON, {"webhook_url": "https://hooks.slack.com/..."} or {"bot_token": "xoxb-...", "channel":
"C0123"}, plus "signing_secret" for the message's buttons (docs/deploy.md). Until it is set, alerts go to the
topic's e-mail subscribers only. The topic is KMS-encrypted with its own key and refuses plain HTTP.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.components.common import removal_policy, secret_name
from infra.components.functions import LoglensFunction
from infra.config import LoglensConfig
from infra.nag import acknowledge


class AlertDelivery(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig) -> None:
        super().__init__(scope, construct_id)
        self.slack_secret = secretsmanager.Secret(
            self,
            "SlackAlerts",
            secret_name=secret_name(config, "alerts-slack"),
            description=f"loglens {config.stage}: Slack for alerts (JSON: webhook_url, or bot_token and channel; "
            "signing_secret), set after deploy",
            removal_policy=removal_policy(config),
        )
        acknowledge(
            self.slack_secret,
            "AwsSolutions-SMG4",
            "This holds a webhook URL or bot token issued by Slack; it can only be rotated in Slack's console, "
            "after which ops put the new value (docs/deploy.md), so no rotation Lambda can do it.",
        )
        self.key = kms.Key(
            self,
            "TopicKey",
            description=f"loglens {config.stage}: alert e-mail notifications",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"loglens {config.stage} alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        if config.alerts.email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alerts.email))

    def grant_send(self, function: LoglensFunction) -> None:
        """Read the Slack secret and publish to the topic (with its key): nothing else, no wildcard action."""
        self.slack_secret.grant_read(function.role)
        function.grant(["sns:Publish"], [self.topic.topic_arn])
        function.grant(["kms:GenerateDataKey", "kms:Decrypt"], [self.key.key_arn])
