"""Network stack: the VPC, endpoints and security groups, plus account-wide settings nothing else owns.

Changes rarely and everything else depends on it, so it deploys first and alone.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from infra.components.network import IsolatedNetwork
from infra.components.rest_api import ApiGatewayAccountLogging
from infra.config import LoglensConfig


class NetworkStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.network = IsolatedNetwork(self, "Network", config=config)
        ApiGatewayAccountLogging(self, "ApiGatewayLogging")
