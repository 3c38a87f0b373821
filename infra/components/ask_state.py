"""The ask function's state on a lake-only stage: one DynamoDB table (loglens.agent.dynamo_state).

With PostgreSQL, conversation turns, the answers of HTTP asks and Slack replay claims are rows in it. A
lake-only stage has no database, and adding one for a few kilobytes of short-lived state would bring back
the fixed cost the preset exists to avoid. An on-demand table costs nothing while no one asks, needs no
VPC or connection, and expires its items itself (TTL on ``expires_at``); encrypted, with point-in-time
recovery (cdk-nag's DDB3) although every item lives a day or two.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.components.common import removal_policy
from infra.config import LoglensConfig

TTL_ATTRIBUTE = "expires_at"
# The only calls loglens.agent.dynamo_state makes.
STATE_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query")


class AskState(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=removal_policy(config),
        )

    def grant(self, grantee: iam.IGrantable) -> None:
        """Read and write items, nothing else (no scans, deletes, or table changes)."""
        self.table.grant(grantee, *STATE_ACTIONS)
