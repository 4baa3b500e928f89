"""Object access to the project's KMS-encrypted buckets with exact actions (no CDK wildcards)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3


def grant_objects(
    grantee: iam.IGrantable,
    bucket: s3.IBucket,
    key: kms.IKey,
    *,
    prefix: str = "",
    write: bool = False,
    sid: str,
) -> None:
    """Read (and optionally write) objects under ``prefix`` of a KMS-encrypted bucket: the
    exact actions, instead of CDK's ``grant_read`` wildcards (s3:GetObject*, s3:List*, ...).
    ``sid`` prefixes the three statements' ids (<sid>List, <sid>Objects, <sid>Key)."""
    stack = Stack.of(bucket)
    role = grantee.grant_principal
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=f"{sid}List", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]
        )
    )
    actions = ["s3:GetObject", *(["s3:PutObject"] if write else [])]
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=f"{sid}Objects", actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")]
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=f"{sid}Key",
            actions=["kms:Decrypt", *(["kms:GenerateDataKey"] if write else [])],
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
        )
    )
