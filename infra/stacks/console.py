"""Console stack: the web console (S3 + CloudFront), its Cognito sign-in and its API (infra/components/console.py).

Deployed after the analysis stack, whose query and ask functions serve the console's API; nothing in the
analysis stack refers to this one (Slack answers learn the console's address from cdk.json console.url).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.components.console import ConsoleSite
from infra.config import LoglensConfig
from infra.paths import CONSOLE_DIST
from infra.stacks.network import NetworkStack


class ConsoleStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        network: NetworkStack,
        functions: Mapping[str, str],
        dist: Path = CONSOLE_DIST,
        **kwargs: Any,
    ) -> None:
        """`functions`: the ARNs of the analysis stack's query and ask functions, by name."""
        super().__init__(scope, construct_id, **kwargs)
        net = network.network
        self.site = ConsoleSite(
            self,
            "ConsoleSite",
            config=config,
            dist=dist,
            functions=functions,
            vpc=net.vpc,
            subnets=net.isolated_subnets,
            security_group=net.lambda_sg,
        )
        CfnOutput(self, "ConsoleUrl", value=self.site.url, description="The web console (put it in console.url)")
        CfnOutput(self, "ConsoleUserPoolId", value=self.site.user_pool.user_pool_id,
                  description="Create console users here (docs/deploy.md)")  # fmt: skip
        CfnOutput(self, "ConsoleSignInDomain", value=self.site.sign_in_url)
