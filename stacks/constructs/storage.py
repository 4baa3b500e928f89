"""The project's buckets: training data, artifacts (model outputs, reports) and access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

# Data-plane actions that must come through the project's VPC endpoint (or from an exempt admin):
# object reads and writes, and listing, which would show object names from outside.
DATA_ACTIONS = [
    "s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject", "s3:ListBucket*",
]  # fmt: skip


class ProjectBuckets(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        noncurrent_version_days: int = 90,
    ) -> None:
        super().__init__(scope, construct_id)
        # S3 log delivery writes with the data key (the key policy admits logging.s3).
        self.access_logs = self._bucket(
            "AccessLogs", key=key, removal_policy=removal_policy, logs=None,
            noncurrent_days=noncurrent_version_days,
        )  # fmt: skip
        # The log bucket is passed to the data buckets by name only: given the bucket object, CDK
        # would add an unconditioned statement for S3 log delivery to the data key's policy.
        # The delivery permission is granted below, bound to this account and these buckets.
        log_target = s3.Bucket.from_bucket_name(self, "LogTarget", self.access_logs.bucket_name)
        self.training_data = self._bucket(
            "TrainingData", key=key, removal_policy=removal_policy, logs=log_target,
            noncurrent_days=noncurrent_version_days,
        )  # fmt: skip
        self.artifacts = self._bucket(
            "Artifacts", key=key, removal_policy=removal_policy, logs=log_target,
            noncurrent_days=noncurrent_version_days,
        )  # fmt: skip
        stack = Stack.of(self)
        self.access_logs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3ServerAccessLogDelivery",
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self.access_logs.arn_for_objects("*")],
                conditions={
                    "ArnLike": {"aws:SourceArn": [b.bucket_arn for b in self.data_buckets]},
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )

    @property
    def data_buckets(self) -> list[s3.Bucket]:
        return [self.training_data, self.artifacts]

    @property
    def all_buckets(self) -> list[s3.Bucket]:
        return [self.access_logs, *self.data_buckets]

    def _bucket(
        self,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        logs: s3.IBucket | None,
        noncurrent_days: int,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=logs,
            server_access_logs_prefix=f"{construct_id}/" if logs else None,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireNoncurrentVersions",
                    noncurrent_version_expiration=Duration.days(noncurrent_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )

    def require_vpc_endpoint(self, *, vpc_endpoint_id: str, exempt_principals: list[str]) -> None:
        """Deny data access that does not come through the project's S3 endpoint.

        Exempt: the listed principals (CDK's deployment roles by exact ARN, the stage's admins),
        so that deployment and operators are never locked out, and requests AWS services make
        on a principal's behalf (forward access sessions)."""
        for bucket in self.data_buckets:
            bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="DenyDataAccessOutsideProjectVpcEndpoint",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=DATA_ACTIONS,
                    resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
                    conditions={
                        "StringNotEquals": {"aws:SourceVpce": vpc_endpoint_id},
                        "ArnNotLike": {"aws:PrincipalArn": exempt_principals},
                        "BoolIfExists": {"aws:ViaAWSService": "false"},
                    },
                )
            )
