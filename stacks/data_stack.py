"""Stateful stack: keys, buckets and the private network. Termination protection and RETAIN;
construct ids here never change (renaming one would replace a key or a bucket)."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LOG_RETENTION_NAMES, StageConfig
from stacks.constructs.encryption import ProjectKeys
from stacks.constructs.network import PrivateNetwork
from stacks.constructs.secure_defaults import bootstrap_deployment_roles
from stacks.constructs.storage import ProjectBuckets
from stacks.nag import (
    REPLICATION_REASON,
    acknowledge,
    acknowledge_compliance,
    acknowledge_inline_policies,
)


def removal_policy(config: StageConfig) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if config.removal_policy == "retain" else RemovalPolicy.DESTROY


def log_retention(config: StageConfig) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, LOG_RETENTION_NAMES[config.log_retention_days])


class DataStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            termination_protection=config.termination_protection,
            description="Bedrock customization pipeline: keys, buckets and private network",
            **kwargs,
        )
        policy = removal_policy(config)
        self.keys = ProjectKeys(
            self,
            "Keys",
            prefix=config.prefix,
            admin_principal_arns=config.admin_principal_arns,
            removal_policy=policy,
        )
        self.network = PrivateNetwork(
            self,
            "Network",
            cidr=config.vpc_cidr,
            az_count=config.az_count,
            log_key=self.keys.data_key,
            log_retention=log_retention(config),
            removal_policy=policy,
        )
        self.buckets = ProjectBuckets(
            self, "Buckets", key=self.keys.data_key, removal_policy=policy
        )
        self.network.restrict_s3_endpoint(
            bucket_arns=[b.bucket_arn for b in self.buckets.all_buckets]
        )
        exempt = [*bootstrap_deployment_roles(self), *config.admin_principal_arns]
        self.buckets.require_vpc_endpoint(
            vpc_endpoint_id=self.network.s3_endpoint.vpc_endpoint_id, exempt_principals=exempt
        )
        acknowledge_findings(self)


def acknowledge_findings(stack: DataStack) -> None:
    """The data stack's findings that are by design, each with its reason."""
    for bucket in stack.buckets.all_buckets:
        acknowledge_compliance(bucket, "S3BucketReplicationEnabled", REPLICATION_REASON)
    for bucket in stack.buckets.data_buckets:
        acknowledge(
            bucket,
            "Annotation::@aws-cdk/aws-s3:accessLogsPolicyNotAdded",
            "The log bucket is referenced by name on purpose (see ProjectBuckets); its policy has "
            "the S3ServerAccessLogDelivery statement bound to this account and these buckets.",
        )
    acknowledge_inline_policies([stack.network.node.find_child("FlowLogRole")])
