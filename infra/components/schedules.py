"""EventBridge schedules that invoke a function with a fixed task payload."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class ScheduledTask(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schedule: str,
        handler: lambda_.IFunction,
        payload: Mapping[str, str],
        description: str,
        max_event_age: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description=description,
            schedule=events.Schedule.expression(schedule),
            targets=[
                targets.LambdaFunction(
                    handler,
                    event=events.RuleTargetInput.from_object(dict(payload)),
                    # EventBridge's retries of a delivery Lambda throttled or refused (not of a failed run).
                    retry_attempts=2,
                    # A run that could not start in time is superseded by the next one.
                    max_event_age=max_event_age or Duration.hours(1),
                )
            ],
        )
