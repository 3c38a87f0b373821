"""The VPC: isolated subnets for the database and every Lambda, VPC endpoints instead of a NAT.

What the Lambdas reach, and how, with no route to the internet:
- S3 (load, archive, the custom-resource framework's response): the S3 gateway endpoint.
- Secrets Manager (ask's API keys, migrate's master secret, the hosted rotation function),
  Firehose (collect), Lambda (ask re-invoking itself, the custom-resource framework), SNS (the
  alerts function's e-mail), Bedrock runtime (ask and alerts, when that provider is chosen):
  interface endpoints.
- Not needed: SQS (the Lambda service polls the load queue; no handler calls SQS), CloudWatch
  Logs and metrics (Lambda's own service ships stdout, and Powertools metrics are EMF lines in
  that stdout), X-Ray (the Lambda service runs the daemon), STS and RDS (IAM database auth
  tokens are presigned locally with the function's credentials), KMS (S3, SQS and Secrets
  Manager call KMS on the caller's behalf).

The only exception is opt-in: ``internet_egress`` adds public subnets, one NAT gateway and an
"egress" subnet group that only the ask and alerts functions use (the Anthropic API, Slack's
response_url and the alerts' Slack webhook are on the internet); the database and every other
function stay isolated.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.components.common import log_group
from infra.config import LoglensConfig
from infra.nag import acknowledge

POSTGRES_PORT = 5432
ISOLATED_SUBNETS = "isolated"
EGRESS_SUBNETS = "egress"
PUBLIC_SUBNETS = "public"


class IsolatedNetwork(Construct):
    """VPC, endpoints, flow logs and the security groups every other stack attaches to."""

    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig) -> None:
        super().__init__(scope, construct_id)
        subnets = [
            ec2.SubnetConfiguration(name=ISOLATED_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
        ]
        if config.internet_egress:
            subnets += [
                ec2.SubnetConfiguration(name=PUBLIC_SUBNETS, subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26),
                ec2.SubnetConfiguration(
                    name=EGRESS_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
                ),
            ]
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            max_azs=2,
            nat_gateways=1 if config.internet_egress else 0,
            subnet_configuration=subnets,
            # Every ENI we create names its own security group; the default group stays unused.
            restrict_default_security_group=False,
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        flow_log_group = log_group(self, "FlowLogs", config)
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

        self.isolated_subnets = ec2.SubnetSelection(subnet_group_name=ISOLATED_SUBNETS)
        self.ask_subnets = ec2.SubnetSelection(
            subnet_group_name=EGRESS_SUBNETS if config.internet_egress else ISOLATED_SUBNETS
        )

        self.lambda_sg = self._group(
            "LambdaSecurityGroup", "loglens Lambdas: the RDS Proxy on 5432 and AWS APIs on 443"
        )
        self.admin_sg = self._group(
            "AdminSecurityGroup", "migrations and secret rotation: the database itself on 5432, AWS APIs on 443"
        )
        self.endpoint_sg = self._group("EndpointSecurityGroup", "interface VPC endpoints: HTTPS from our functions")

        # The proxy's and the database's groups live with them in the data stack, which adds the
        # 5432 rules (Lambdas → proxy → PostgreSQL, admin → PostgreSQL) from its side.
        https = ec2.Port.tcp(443)
        for group in (self.lambda_sg, self.admin_sg):
            # Isolated subnets route 443 only to the endpoints (and the S3 gateway, whose prefix
            # list has no name a template can use without an account lookup).
            group.add_egress_rule(ec2.Peer.any_ipv4(), https, "AWS APIs through VPC endpoints")
            self.endpoint_sg.add_ingress_rule(group, https, "HTTPS from loglens functions")

        services = {
            "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            "Firehose": ec2.InterfaceVpcEndpointAwsService.KINESIS_FIREHOSE,
            "Lambda": ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
            "Sns": ec2.InterfaceVpcEndpointAwsService.SNS,
        }
        if config.model.provider == "bedrock":
            services["BedrockRuntime"] = ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME
        for name, service in services.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.isolated_subnets,
                security_groups=[self.endpoint_sg],
                private_dns_enabled=True,
                open=False,
            )

        # One customer-managed policy for the ENI permissions every in-VPC function needs, so the
        # unavoidable Resource "*" is written (and acknowledged) once.
        self.vpc_access_policy = iam.ManagedPolicy(
            self,
            "LambdaVpcAccess",
            description="Lets loglens Lambda functions attach to the VPC",
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            ],
        )
        acknowledge(
            self.vpc_access_policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Lambda's VPC ENI actions (ec2:CreateNetworkInterface, Describe*, Delete, Assign/Unassign IPs) "
            "do not support resource-level permissions; this is AWSLambdaVPCAccessExecutionRole's statement.",
        )

    def function_placement(self, subnets: ec2.SubnetSelection | None = None) -> dict[str, Any]:
        """Where every loglens function runs: LoglensFunction's VPC arguments, in one place."""
        return {
            "vpc": self.vpc,
            "subnets": subnets or self.isolated_subnets,
            "security_group": self.lambda_sg,
            "vpc_access_policy": self.vpc_access_policy,
        }

    def _group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=False)
