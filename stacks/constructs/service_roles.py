"""The roles Bedrock and SageMaker assume to run the pipeline's jobs.

Each trust policy admits one service principal, only for this account and only from the job
type it serves (``aws:SourceAccount`` plus ``aws:SourceArn``: the confused-deputy guard). Jobs
run in the project's isolated subnets, so each role may create, tag and delete network
interfaces there: Bedrock's with the request-tag conditions of the Bedrock user guide ("Protect
model customization jobs using a VPC"), SageMaker's scoped to the project's subnets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.grants import grant_objects
from stacks.constructs.secure_defaults import source_bound_principal
from stacks.nag import (
    EC2_DESCRIBE_REASON,
    ENI_REASON,
    RUN_OBJECTS,
    TRAINING_OBJECTS,
    acknowledge_inline_policies,
    acknowledge_wildcard_resources,
)

# Read-only EC2 calls the services make to place network interfaces; EC2 does not support
# resource-level permissions for Describe* actions (Resource "*", scoped to the region).
EC2_DESCRIBE = [
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]
KEY_USE = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]


@dataclass(frozen=True)
class BedrockJobType:
    construct_id: str
    resource: str  # ARN resource type of the job (aws:SourceArn)
    tag_key: str  # the tag Bedrock puts on the job's network interfaces
    description: str


CUSTOMIZATION = BedrockJobType(
    "BedrockCustomizationRole",
    "model-customization-job",
    "BedrockModelCustomizationJobArn",
    "Bedrock model customization jobs of the pipeline",
)
IMPORT = BedrockJobType(
    "BedrockImportRole",
    "model-import-job",
    "BedrockModelImportJobArn",
    "Bedrock Custom Model Import jobs of the pipeline",
)


def _ec2_arn(stack: Stack, resource: str) -> str:
    return f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:{resource}"


def _network_arns(
    stack: Stack, subnets: Sequence[ec2.ISubnet], security_group: ec2.ISecurityGroup
) -> tuple[str, list[str], str]:
    """(any network interface, the project's subnets, the workload security group) as ARNs."""
    return (
        _ec2_arn(stack, "network-interface/*"),
        [_ec2_arn(stack, f"subnet/{s.subnet_id}") for s in subnets],
        _ec2_arn(stack, f"security-group/{security_group.security_group_id}"),
    )


def _describe_network(stack: Stack) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="DescribeNetwork",
        actions=EC2_DESCRIBE,
        resources=["*"],
        conditions={"StringEquals": {"aws:RequestedRegion": stack.region}},
    )


class ServiceRoles(Construct):
    """``customization``, ``model_import`` (Bedrock) and ``training`` (SageMaker) roles.

    Their jobs run in ``subnets`` behind ``security_group``; they read ``training_data`` and
    write under runs/ of ``artifacts`` (import only reads), through S3 with ``data_key``, and
    encrypt models with ``model_key``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        subnets: Sequence[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        training_data: s3.IBucket,
        artifacts: s3.IBucket,
        data_key: kms.IKey,
        model_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._subnets = subnets
        self._security_group = security_group
        self.customization = self._bedrock_role(CUSTOMIZATION)
        self.model_import = self._bedrock_role(IMPORT)
        self.training = self._training_role()

        # Customization reads the datasets and writes its output (metrics, logs) under runs/.
        grant_objects(self.customization, training_data, data_key, sid="ReadTrainingData")
        grant_objects(
            self.customization, artifacts, data_key, prefix="runs/", write=True, sid="RunArtifacts"
        )
        # Import reads weights: trained ones under runs/, or a prefix the team uploaded.
        grant_objects(self.model_import, training_data, data_key, sid="ReadWeights")
        grant_objects(
            self.model_import, artifacts, data_key, prefix="runs/", sid="ReadTrainedWeights"
        )
        # Training reads datasets and base weights, writes the model and checkpoints.
        grant_objects(self.training, training_data, data_key, sid="ReadTrainingData")
        grant_objects(
            self.training, artifacts, data_key, prefix="runs/", write=True, sid="RunArtifacts"
        )
        stack = Stack.of(self)
        for role, service in (
            (self.customization, "bedrock"),
            (self.model_import, "bedrock"),
            (self.training, "sagemaker"),
        ):
            for key, name in ((data_key, "Data"), (model_key, "Model")):
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        sid=f"Use{name}KeyThroughServices",
                        actions=KEY_USE,
                        resources=[key.key_arn],
                        conditions={
                            "StringEquals": {
                                "kms:ViaService": [
                                    f"{service}.{stack.region}.amazonaws.com",
                                    f"s3.{stack.region}.amazonaws.com",
                                ]
                            }
                        },
                    )
                )

        self._acknowledge_findings()

    def _acknowledge_findings(self) -> None:
        acknowledge_inline_policies(self.all_roles)
        for role in self.all_roles:
            star = EC2_DESCRIBE_REASON
            if role is self.training:
                star = (
                    f"{EC2_DESCRIBE_REASON} Also ecr:GetAuthorizationToken (an account-wide "
                    "registry token, no resource type) and cloudwatch:PutMetricData (no resource "
                    "type; limited to the /aws/sagemaker/* namespaces by condition)."
                )
            acknowledge_wildcard_resources(
                role,
                [
                    TRAINING_OBJECTS,
                    RUN_OBJECTS,
                    (r"^\*$", star),
                    (r":network-interface/\*$", ENI_REASON),
                    (
                        r":log-group:/aws/sagemaker/TrainingJobs:log-stream:\*$",
                        "SageMaker names a training job's log streams "
                        "<job>/algo-<n>-<timestamp> at run time.",
                    ),
                ],
            )

    @property
    def all_roles(self) -> list[iam.Role]:
        return [self.customization, self.model_import, self.training]

    def _bedrock_role(self, job: BedrockJobType) -> iam.Role:
        stack = Stack.of(self)
        job_arns = f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:{job.resource}/*"
        role = iam.Role(
            self,
            job.construct_id,
            assumed_by=source_bound_principal(
                "bedrock.amazonaws.com",
                account=stack.account,
                source_arn=job_arns,
                arn_operator="ArnEquals",
            ),
            description=job.description,
        )
        eni, subnets, sg = _network_arns(stack, self._subnets, self._security_group)
        statements = [
            _describe_network(stack),
            # Only network interfaces Bedrock tags as its own, for this job type.
            iam.PolicyStatement(
                sid="CreateTaggedNetworkInterfaces",
                actions=["ec2:CreateNetworkInterface"],
                resources=[eni],
                conditions={
                    "StringEquals": {"aws:RequestTag/BedrockManaged": "true"},
                    "ArnEquals": {f"aws:RequestTag/{job.tag_key}": job_arns},
                },
            ),
            iam.PolicyStatement(
                sid="InProjectSubnetsAndGroup",
                actions=["ec2:CreateNetworkInterface"],
                resources=[*subnets, sg],
            ),
            iam.PolicyStatement(
                sid="ManageOwnNetworkInterfaces",
                actions=[
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                ],
                resources=[eni],
                # As the Bedrock user guide's VPC policy: the job-ARN tag too, so one job type's
                # role cannot delete the other's (or anyone's) Bedrock interfaces.
                conditions={
                    "ArnEquals": {
                        "ec2:Subnet": subnets,
                        f"ec2:ResourceTag/{job.tag_key}": job_arns,
                    },
                    "StringEquals": {"ec2:ResourceTag/BedrockManaged": "true"},
                },
            ),
            iam.PolicyStatement(
                sid="TagOnlyWhileCreating",
                actions=["ec2:CreateTags"],
                resources=[eni],
                conditions={
                    "StringEquals": {"ec2:CreateAction": "CreateNetworkInterface"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["BedrockManaged", job.tag_key]},
                },
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        return role

    def _training_role(self) -> iam.Role:
        stack = Stack.of(self)
        region_account = f"{stack.region}:{stack.account}"
        role = iam.Role(
            self,
            "SageMakerTrainingRole",
            assumed_by=source_bound_principal(
                "sagemaker.amazonaws.com",
                account=stack.account,
                source_arn=f"arn:{stack.partition}:sagemaker:{region_account}:training-job/*",
            ),
            description="SageMaker training jobs of the pipeline (training container)",
        )
        eni, subnets, sg = _network_arns(stack, self._subnets, self._security_group)
        log_group = (
            f"arn:{stack.partition}:logs:{region_account}:log-group:/aws/sagemaker/TrainingJobs"
        )
        statements = [
            _describe_network(stack),
            iam.PolicyStatement(
                sid="NetworkInterfacesInProjectSubnets",
                actions=["ec2:CreateNetworkInterface"],
                resources=[eni, *subnets, sg],
            ),
            iam.PolicyStatement(
                sid="ManageNetworkInterfacesInProjectSubnets",
                actions=[
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                ],
                resources=[eni],
                conditions={"ArnEquals": {"ec2:Subnet": subnets}},
            ),
            iam.PolicyStatement(
                sid="TrainingLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[log_group, f"{log_group}:log-stream:*"],
            ),
            # PutMetricData has no resource type; the namespace condition is its scope.
            iam.PolicyStatement(
                sid="TrainingMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        return role
