"""The VPC: isolated subnets for the database and every Lambda, VPC endpoints instead of a NAT.

What the Lambdas in the VPC reach, and how, with no route to the internet:
- S3 (load, archive, the custom-resource framework's response): the S3 gateway endpoint.
- Secrets Manager (ask's API keys, load's envelope key, migrate's master secret, the hosted
  rotation function), Lambda (ask re-invoking itself, the custom-resource framework), Bedrock
  runtime (ask and alerts, when that provider is chosen), SNS (the alerts function's e-mail), and
  with the lake on Firehose (load forwarding what it validated to the lake's stream) and Athena
  (ask's lake queries): interface endpoints.
- collect is not in the VPC: it calls only Firehose and Secrets Manager, on their public endpoints.

Every endpoint has a policy naming the project's resources, so a function (or anything else in the
VPC) cannot use the endpoint to reach another account's bucket or another application's secrets:
S3 the raw and archive buckets (and CloudFormation's response bucket for the custom resource),
Secrets Manager the secrets under ``loglens/<stage>/``, Lambda the stage's functions, SNS the
stage's topics, Bedrock the configured model. Only principals of this account may use them
(except CloudFormation's presigned response URL, which CloudFormation signed).
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

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.components.bedrock import INVOKE_ACTIONS, model_arns
from infra.components.common import log_group, secret_prefix
from infra.components.log_storage import data_bucket_names
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
        )
        self._scope_s3(config, self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3))
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

        stack = Stack.of(self)
        functions = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=f"loglens-{config.stage}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        secrets = stack.format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{secret_prefix(config)}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # (service, actions, resources): what may pass through each interface endpoint.
        endpoints: dict[str, tuple[ec2.InterfaceVpcEndpointAwsService, list[str], list[str]]] = {
            "SecretsManager": (
                ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
                [
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                [secrets],
            ),
            # Stack-generated function names start with the stack's, loglens-<stage>-<part>.
            "Lambda": (
                ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
                ["lambda:InvokeFunction", "lambda:GetFunction"],
                [functions, f"{functions}:*"],
            ),
            # The alerts function's e-mail fallback: topics of this stage only (generated names start with the stack's).
            "Sns": (
                ec2.InterfaceVpcEndpointAwsService.SNS,
                ["sns:Publish"],
                [
                    stack.format_arn(
                        service="sns", resource=f"loglens-{config.stage}-*", arn_format=ArnFormat.NO_RESOURCE_NAME
                    )
                ],
            ),
        }
        if config.model.provider == "bedrock":
            arns = model_arns(stack, config.model.model_id)
            endpoints["BedrockRuntime"] = (
                ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
                list(INVOKE_ACTIONS),
                [arn for arn in (arns.profile, arns.model) if arn],
            )
        if config.lake.enabled:
            # load forwards what it validated to the lake's stream; ask runs lake queries in the workgroup.
            endpoints["Firehose"] = (
                ec2.InterfaceVpcEndpointAwsService.KINESIS_FIREHOSE,
                ["firehose:PutRecordBatch", "firehose:PutRecord"],
                [
                    stack.format_arn(
                        service="firehose", resource="deliverystream", resource_name=f"loglens-{config.stage}-*"
                    )
                ],
            )
            endpoints["Athena"] = (
                ec2.InterfaceVpcEndpointAwsService.ATHENA,
                [
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                ],
                [stack.format_arn(service="athena", resource="workgroup", resource_name=f"loglens-{config.stage}*")],
            )
        for name, (service, actions, resources) in endpoints.items():
            endpoint = self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.isolated_subnets,
                security_groups=[self.endpoint_sg],
                private_dns_enabled=True,
                open=False,
            )
            endpoint.add_to_policy(_ours(actions, resources))
            if name == "SecretsManager":
                # The hosted rotation function generates the new master password; the action names no resource.
                endpoint.add_to_policy(_ours(["secretsmanager:GetRandomPassword"], ["*"]))

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

    def _scope_s3(self, config: LoglensConfig, endpoint: ec2.GatewayVpcEndpoint) -> None:
        buckets = [f"arn:{Aws.PARTITION}:s3:::{name}" for name in data_bucket_names(config)]
        endpoint.add_to_policy(
            _ours(
                ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket"],
                [*buckets, *(f"{bucket}/*" for bucket in buckets)],
            )
        )
        # The custom-resource framework answers CloudFormation through a URL CloudFormation presigned for its
        # own bucket (named with the region without dashes), so no account condition here.
        responses = f"cloudformation-custom-resource-response-{config.region.replace('-', '')}"
        endpoint.add_to_policy(
            iam.PolicyStatement(
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[f"arn:{Aws.PARTITION}:s3:::{responses}/*"],
            )
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


def _ours(actions: list[str], resources: list[str]) -> iam.PolicyStatement:
    """An endpoint policy statement for principals of this account only."""
    return iam.PolicyStatement(
        principals=[iam.AnyPrincipal()],
        actions=actions,
        resources=resources,
        conditions={"StringEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}},
    )
