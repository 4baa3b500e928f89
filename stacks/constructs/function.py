"""One Lambda function of the pipeline, with the project's secure defaults in one place.

Every function: the latest Python runtime on arm64, the ``lambdas`` and ``bedrock_pipeline``
packages as code and the
pinned runtime dependencies as a layer, in the isolated subnets behind the workload security
group, X-Ray tracing, a KMS-encrypted log group with retention, KMS-encrypted environment, an
encrypted dead-letter queue, reserved concurrency, and its own role whose policy names resources.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from bedrock_pipeline.contract import METRICS_NAMESPACE, Service
from stacks.constructs.secure_defaults import encrypted_log_group, encrypted_queue
from stacks.nag import (
    acknowledge,
    acknowledge_inline_policies,
    acknowledge_wildcard_resources,
    logical_id,
)

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = ROOT / "lambdas"
DOMAIN_DIR = ROOT / "bedrock_pipeline"
LAYER_DIR = ROOT / "build" / "lambda-deps"
# The latest Python runtime (cdk-nag L1). The tests run on 3.11, the oldest Python the project
# supports, with the same boto3/botocore and dependencies the layer ships; docs/security.md
# ("Runtime parity") says why the deployed minor version differs and what that leaves open.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64


@jsii.implements(ILocalBundling)
class _CopyPackage:
    """Copies ``lambdas/`` (the handlers) and ``bedrock_pipeline/`` (the domain, without the
    client and local mode) into the asset as packages, so handlers import exactly as tests do.
    Runs locally: synthesis needs no Docker."""

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt")
        out = Path(output_dir)
        shutil.copytree(LAMBDAS_DIR, out / "lambdas", ignore=ignore, dirs_exist_ok=True)
        shutil.copytree(
            DOMAIN_DIR,
            out / "bedrock_pipeline",
            # The client/CLI and local mode's emulator run on a workstation, never in a Lambda.
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "client", "local"),
            dirs_exist_ok=True,
        )
        return True


def lambda_code() -> lambda_.Code:
    # OUTPUT: the hash covers both packages as bundled, so a change to either redeploys.
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling"), local=_CopyPackage()
        ),
        exclude=["__pycache__", "*.pyc"],
    )


class DependenciesLayer(Construct):
    """The pinned runtime dependencies (``lambdas/requirements.txt``), built by ``make setup``."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        if not (LAYER_DIR / "python").is_dir():
            raise FileNotFoundError(
                f"{LAYER_DIR}/python is missing: run `make setup` to build the Lambda layer"
            )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(LAYER_DIR), exclude=[".installed"]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=(
                "Pinned runtime dependencies: aws-lambda-powertools, pydantic, boto3, matplotlib"
            ),
        )


class PipelineFunction(Construct):
    """A function with the project's defaults.

    ``handler``: a dotted path under ``lambdas`` (``lambdas.validate.handler.handler``);
    ``service_name``: its ``POWERTOOLS_SERVICE_NAME`` (``contract.Service``); ``environment``:
    the handler's variables (``contract.*Env``), added to Powertools' own; ``timeout``: default
    1 minute; ``memory_size``: MB, default 512 (Lambda allows 128-10240); ``reserved_concurrency``:
    concurrent executions reserved (and allowed) for the function; ``key``: encrypts the
    environment, the log group and the dead-letter queue; ``log_retention`` and
    ``removal_policy`` (default RETAIN): the log group's and the queue's."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        layer: lambda_.ILayerVersion,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        reserved_concurrency: int,
        environment: dict[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int = 512,
        service_name: Service,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group = encrypted_log_group(
            self,
            "Logs",
            key=key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{construct_id} function",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:*"],
            )
        )
        # Lambda manages the ENIs of a VPC function with the function's role (Lambda Developer
        # Guide, "Giving Lambda functions access to resources in an Amazon VPC"). Only the
        # Describe actions need Resource "*"; network interfaces are created in the project's
        # subnets and security group, and managed only there.
        eni = f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:network-interface/*"
        subnets = [
            f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:subnet/{s.subnet_id}"
            for s in vpc.isolated_subnets
        ]
        group = (
            f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:"
            f"security-group/{security_group.security_group_id}"
        )
        for statement in (
            iam.PolicyStatement(
                sid="DescribeVpcNetwork",
                actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
                resources=["*"],
                conditions={"StringEquals": {"aws:RequestedRegion": stack.region}},
            ),
            iam.PolicyStatement(
                sid="CreateNetworkInterfacesInProjectSubnets",
                actions=["ec2:CreateNetworkInterface"],
                resources=[eni, *subnets, group],
            ),
            iam.PolicyStatement(
                sid="ManageNetworkInterfacesInProjectSubnets",
                actions=[
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                resources=[eni],
                conditions={"ArnEquals": {"ec2:Subnet": subnets}},
            ),
        ):
            self.role.add_to_principal_policy(statement)
        self.dead_letter_queue = encrypted_queue(
            self, "DeadLetters", key=key, removal_policy=removal_policy
        )
        # Lambda sends failed asynchronous events to the dead-letter queue with the function's
        # role; SQS then needs the sender's kms:GenerateDataKey and kms:Decrypt on the queue's
        # key (SQS Developer Guide, "Configure KMS permissions for producers"). CDK grants only
        # sqs:SendMessage.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptDeadLettersThroughSqs",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"sqs.{stack.region}.amazonaws.com"}
                },
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=lambda_code(),
            handler=handler,
            layers=[layer],
            role=self.role,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[security_group],
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
            environment_encryption=key,
            timeout=timeout or Duration.minutes(1),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=reserved_concurrency,
        )
        acknowledge_findings(self)


def acknowledge_findings(fn: PipelineFunction) -> None:
    """The findings every PipelineFunction carries by design."""
    policy = fn.role.node.find_child("DefaultPolicy")
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "Only ec2:DescribeNetworkInterfaces/DescribeSubnets (Lambda's VPC ENI placement) and "
        "xray:PutTraceSegments/PutTelemetryRecords (active tracing) use Resource '*': neither "
        "service supports resource-level permissions for these actions. Scoped to the region.",
    )
    acknowledge_wildcard_resources(
        fn.role,
        [
            (
                r":network-interface/\*$",
                "Lambda creates the function's network interfaces with service-generated ids; "
                "creation is limited to the project's subnets and security group, deletion and "
                "address changes to interfaces in those subnets (ec2:Subnet).",
            )
        ],
    )
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[Resource::<{logical_id(fn.log_group)}.Arn>:*]",
        "Log streams of the function's own log group: stream names are created by Lambda at run "
        "time, so the group's ARN ends in ':*'.",
    )
    acknowledge_inline_policies([fn.role])
    acknowledge(
        fn.dead_letter_queue,
        "Serverless-SQSRedrivePolicy",
        "This queue is itself the function's dead-letter queue; a redrive target for it would "
        "only move failed events further from the alarm that watches this queue.",
    )
