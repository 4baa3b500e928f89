"""Private network: isolated subnets only, flow logs, closed default security group, and the
VPC endpoints every job and function needs, from one table."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.secure_defaults import encrypted_log_group, source_bound_principal


@dataclass(frozen=True)
class EndpointSpec:
    construct_id: str
    service: str  # the part after com.amazonaws.<region>.
    why: str
    # True where every resource the pipeline reaches through the endpoint is in this account, so
    # the endpoint policy can require aws:ResourceAccount as well. False where AWS-owned
    # resources are read (Bedrock foundation models, ECR) or actions have no resource (X-Ray,
    # STS): there the key is absent or another account's.
    own_resources: bool


# The VPC has no route to the internet: every AWS API used from inside it needs an endpoint.
INTERFACE_ENDPOINTS: tuple[EndpointSpec, ...] = (
    EndpointSpec("Bedrock", "bedrock", "customization / import jobs, provisioned throughput",
                 own_resources=False),
    EndpointSpec("BedrockRuntime", "bedrock-runtime", "evaluation calls Converse / InvokeModel",
                 own_resources=False),
    EndpointSpec("Sts", "sts", "SDK credential and identity calls", own_resources=False),
    EndpointSpec("Logs", "logs", "Lambda and job logs", own_resources=True),
    EndpointSpec("States", "states", "API Lambda starts and describes executions",
                 own_resources=True),
    EndpointSpec("Kms", "kms", "envelope encryption from inside the VPC", own_resources=True),
    EndpointSpec("SageMakerApi", "sagemaker.api", "container training jobs", own_resources=True),
    EndpointSpec("EcrApi", "ecr.api", "training image pulls", own_resources=False),
    EndpointSpec("EcrDkr", "ecr.dkr", "training image pulls", own_resources=False),
    EndpointSpec("Sns", "sns", "run notifications", own_resources=True),
    EndpointSpec("Events", "events", "run result events", own_resources=True),
    EndpointSpec("XRay", "xray", "Lambda traces", own_resources=False),
)  # fmt: skip

# ECR stores image layers in this AWS-owned bucket; image pulls through the gateway need it.
ECR_LAYER_BUCKET = "prod-{region}-starport-layer-bucket"


def endpoint_policy_statement(account: str, spec: EndpointSpec) -> iam.PolicyStatement:
    """The only Allow of an interface endpoint: callers of this account (and, where all its
    resources are ours, requests for this account's resources). Without it the default policy
    allows any principal, so code in the VPC could move data out with another account's
    credentials (PrivateLink guide, "Control access to VPC endpoints using endpoint policies";
    the aws:PrincipalAccount / aws:ResourceAccount data-perimeter pattern)."""
    condition = {"aws:PrincipalAccount": account}
    if spec.own_resources:
        condition["aws:ResourceAccount"] = account
    return iam.PolicyStatement(
        sid="ThisAccountOnly",
        principals=[iam.AnyPrincipal()],
        actions=["*"],
        resources=["*"],
        conditions={"StringEquals": condition},
    )


class PrivateNetwork(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        az_count: int,
        log_key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=az_count,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20
                )
            ],
            restrict_default_security_group=True,
        )
        flow_log_group = encrypted_log_group(
            self,
            "FlowLogGroup",
            key=log_key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        stack = Stack.of(self)
        # Confused-deputy guard: only this account's flow logs may assume the delivery role.
        flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            assumed_by=source_bound_principal(
                "vpc-flow-logs.amazonaws.com",
                account=stack.account,
                source_arn=f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:vpc-flow-log/*",
            ),
            description="VPC flow log delivery to the encrypted flow-log group",
        )
        self.flow_log = self.vpc.add_flow_log(
            "FlowLogs",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group, flow_log_role),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="VPC interface endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(
            # The literal CIDR, not the VPC's CidrBlock attribute, keeps the rule checkable by nag.
            ec2.Peer.ipv4(cidr),
            ec2.Port.tcp(443),
            "HTTPS from the VPC",
        )
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        for spec in INTERFACE_ENDPOINTS:
            endpoint = self.vpc.add_interface_endpoint(
                spec.construct_id,
                service=ec2.InterfaceVpcEndpointAwsService(spec.service),
                private_dns_enabled=True,
                security_groups=[self.endpoint_security_group],
                open=False,
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            )
            endpoint.add_to_policy(endpoint_policy_statement(stack.account, spec))
            self.interface_endpoints[spec.service] = endpoint
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3
        )

        # Security group for the project's functions and jobs: egress to the endpoints only.
        self.workload_security_group = ec2.SecurityGroup(
            self,
            "WorkloadSecurityGroup",
            vpc=self.vpc,
            description="Pipeline Lambdas and Bedrock/SageMaker jobs: HTTPS to endpoints only",
            allow_all_outbound=False,
        )
        self.workload_security_group.add_egress_rule(
            self.endpoint_security_group, ec2.Port.tcp(443), "HTTPS to interface endpoints"
        )
        # S3 is reached through the gateway endpoint, whose addresses are the region's managed
        # prefix list (looked up at synth time and committed in cdk.context.json).
        s3_prefix_list = ec2.PrefixList.from_lookup(
            self, "S3PrefixList", prefix_list_name=f"com.amazonaws.{Stack.of(self).region}.s3"
        )
        self.workload_security_group.add_egress_rule(
            ec2.Peer.prefix_list(s3_prefix_list.prefix_list_id), ec2.Port.tcp(443), "HTTPS to S3"
        )
        # Distributed training: NCCL / torchrun between the job's own instances.
        self.workload_security_group.add_ingress_rule(
            self.workload_security_group, ec2.Port.all_tcp(), "Training instances of one job"
        )
        self.workload_security_group.add_egress_rule(
            self.workload_security_group, ec2.Port.all_tcp(), "Training instances of one job"
        )

    def restrict_s3_endpoint(self, *, bucket_arns: list[str]) -> None:
        """Gateway endpoint policy: the project's buckets and ECR's layer bucket, nothing else."""
        stack = Stack.of(self)
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="ProjectBuckets",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject*", "s3:PutObject*", "s3:ListBucket*", "s3:DeleteObject",
                         "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                         "s3:GetBucketLocation"],
                resources=[*bucket_arns, *[f"{arn}/*" for arn in bucket_arns]],
                conditions={"StringEquals": {"aws:PrincipalAccount": stack.account}},
            )
        )  # fmt: skip
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="EcrImageLayers",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{stack.partition}:s3:::{ECR_LAYER_BUCKET.format(region=stack.region)}/*"
                ],
            )
        )
