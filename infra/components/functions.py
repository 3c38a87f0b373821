"""How every loglens Lambda is built: one code asset (functions/), two layers, the same defaults.

Defaults shared by all functions: Python 3.12 on the configured architecture, the handler
``<module>.handler``, X-Ray tracing, Powertools settings in the environment, a log group we own
with the configured retention, and an execution role holding only what the function is granted
plus the log permissions. Functions that reach the database run in the VPC's isolated subnets (ask
may use the egress group) and get the VPC permissions; collect, which calls only Firehose and
Secrets Manager, runs outside the VPC (no ENIs, no endpoint in its path, nothing to reach).

Layers and the code asset are created once per stack (``FunctionKit.of``) rather than shared
across stacks: a cross-stack reference to a layer version would pin the producer's export and
fail every deploy that publishes a new version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.components.common import log_group
from infra.components.deps_layer import deps_layer_dir
from infra.config import LoglensConfig
from infra.nag import acknowledge, acknowledge_wildcard_resources, finding_text
from infra.paths import ASSET_EXCLUDES, CORE_LAYER_DIR, CORE_LAYER_EXCLUDES, FUNCTIONS_DIR

RUNTIME = lambda_.Runtime.PYTHON_3_12
METRICS_NAMESPACE = "loglens"

# Seconds; each follows the work its handler does, not the stage.
TIMEOUTS = {
    "collect": 15,  # validate + PutRecordBatch with retries, well inside API Gateway's 29 s
    "load": 300,  # one batch of raw objects: download, parse, COPY; the queue's visibility is 6x this
    "maintain": 600,  # create partitions ahead, move DEFAULT rows, refresh views concurrently
    "archive": 900,  # resumable: a partition that takes longer continues on the next run
    "ask": 300,  # the async agent loop; the synchronous Slack ack returns in < 3 s
    "query": 30,  # one guarded statement (the agent's 10 s timeout) behind API Gateway's 29 s
    "migrate": 900,  # migrations run inside the custom resource's single invocation
    "lakegate": 120,  # one Firehose batch (≤ 3 MB of records); Firehose allows a transformation 5 minutes
    "alerts": 300,  # a detector run takes about a second; the model's explanation of a new incident, up to a minute
}

_ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


class FunctionKit(Construct):
    """The layers and the code asset of one stack's functions."""

    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.architecture = _ARCHITECTURES[config.functions.architecture]
        self.code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=ASSET_EXCLUDES)
        self.core_layer = lambda_.LayerVersion(
            self,
            "CoreLayer",
            code=lambda_.Code.from_asset(str(CORE_LAYER_DIR), exclude=CORE_LAYER_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[self.architecture],
            description="loglens core package (layers/core/python/loglens)",
        )
        self.deps_layer = lambda_.LayerVersion(
            self,
            "DepsLayer",
            code=lambda_.Code.from_asset(str(deps_layer_dir(config.functions.architecture))),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[self.architecture],
            description="loglens third-party dependencies (layers/deps/requirements.txt)",
        )

    @staticmethod
    def of(scope: Construct, config: LoglensConfig) -> FunctionKit:
        stack = Stack.of(scope)
        existing = stack.node.try_find_child("FunctionKit")
        if isinstance(existing, FunctionKit):
            return existing
        return FunctionKit(stack, "FunctionKit", config=config)


class LoglensFunction(Construct):
    """One handler module from functions/, wired with the shared defaults."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        module: str,
        description: str,
        vpc: ec2.IVpc | None = None,
        subnets: ec2.SubnetSelection | None = None,
        security_group: ec2.ISecurityGroup | None = None,
        vpc_access_policy: iam.IManagedPolicy | None = None,
        environment: Mapping[str, str] | None = None,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        in_vpc = (vpc, subnets, security_group, vpc_access_policy)
        if any(part is None for part in in_vpc) and any(part is not None for part in in_vpc):
            raise ValueError(f"{module}: give all of vpc, subnets, security_group and vpc_access_policy, or none")
        kit = FunctionKit.of(self, config)
        self.log_group = log_group(self, "Logs", config)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"loglens {module} function",
            # Outside a VPC (lake-only stages, the lake's gate) a function needs no ENI permissions.
            managed_policies=[vpc_access_policy] if vpc_access_policy is not None else None,
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=kit.architecture,
            handler=f"{module}.handler",
            code=kit.code,
            layers=[kit.core_layer, kit.deps_layer],
            role=self.role,
            vpc=vpc,
            vpc_subnets=subnets if vpc is not None else None,
            security_groups=[security_group] if vpc is not None and security_group is not None else None,
            timeout=Duration.seconds(TIMEOUTS[module]),
            memory_size=config.functions.memory_mb[module],
            reserved_concurrent_executions=reserved_concurrency,
            # The Lambda service records each invocation's segment; no X-Ray SDK in the function (its import
            # cost ~0.3 s of every cold start), so no subsegments.
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "POWERTOOLS_SERVICE_NAME": module,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "LOGLENS_STAGE": config.stage,
                # pydantic scans every installed distribution for plugins at first model build; we use none.
                "PYDANTIC_DISABLE_PLUGINS": "__all__",
                **(environment or {}),
            },
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Python 3.12 is pinned on purpose: the deps layer is built for cp312 wheels by layers/deps/build.py; "
            "runtime and layer move to a newer Python together.",
        )
        # Tracing adds xray:PutTraceSegments/PutTelemetryRecords to the role's default policy.
        default_policy = self.role.node.try_find_child("DefaultPolicy")
        if default_policy is not None:
            acknowledge(
                default_policy,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions; "
                "tests/infra checks every other statement names its resources.",
            )

    def grant(
        self,
        actions: Sequence[str],
        resources: Sequence[str],
        *,
        conditions: Mapping[str, Mapping[str, object]] | None = None,
        wildcard_reason: str | None = None,
    ) -> None:
        """Add one least-privilege statement to this function's role.

        A resource with a wildcard (objects under a prefix, say) needs `wildcard_reason`, which
        becomes the cdk-nag acknowledgment for exactly those ARNs.
        """
        statement = iam.PolicyStatement(
            actions=list(actions), resources=list(resources), conditions=dict(conditions) if conditions else None
        )
        self.role.add_to_principal_policy(statement)
        wildcards = [resource for resource in resources if "*" in finding_text(self, resource)]
        if wildcards:
            if wildcard_reason is None:
                raise ValueError(f"{self.node.path}: {wildcards} contain a wildcard; say why in wildcard_reason")
            acknowledge_wildcard_resources(self.role.node.find_child("DefaultPolicy"), wildcards, wildcard_reason)
