"""The project's encrypted log groups and queues, and its service trust, defined once.

Every log group is encrypted with a project key and expires; every queue is encrypted with a
project key, refuses plain HTTP and keeps messages for the SQS maximum of 14 days, so that a
failure found on a Monday is still there to read. Every AWS service that assumes a project role
must act for this account and for the named resources (confused-deputy guard). CDK's
deployment roles are named exactly, never by a ``cdk-*`` pattern anyone could match.
"""

from __future__ import annotations

from aws_cdk import DefaultStackSynthesizer, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def encrypted_log_group(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
    name: str | None = None,
) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        encryption_key=key,
        retention=retention,
        removal_policy=removal_policy,
    )


def encrypted_queue(
    scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        removal_policy=removal_policy,
    )


def source_bound_principal(
    service: str, *, account: str, source_arn: str, arn_operator: str = "ArnLike"
) -> iam.ServicePrincipal:
    """``service`` may assume the role only for ``account`` and resources matching ``source_arn``
    (``aws:SourceAccount`` / ``aws:SourceArn``). Bedrock documents ``ArnEquals``."""
    return iam.ServicePrincipal(
        service,
        conditions={
            "StringEquals": {"aws:SourceAccount": account},
            arn_operator: {"aws:SourceArn": source_arn},
        },
    )


BOOTSTRAP_QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"


def bootstrap_deployment_roles(stack: Stack) -> list[str]:
    """The exact ARNs of the CDK bootstrap roles that deploy this stack (the deploy role and the
    CloudFormation execution role), named as ``cdk bootstrap`` names them:
    ``cdk-<qualifier>-<kind>-<account>-<region>`` (CDK Developer Guide, "Bootstrapping"). The
    qualifier comes from the CDK context, default ``hnb659fds``."""
    qualifier = (
        stack.node.try_get_context(BOOTSTRAP_QUALIFIER_CONTEXT)
        or DefaultStackSynthesizer.DEFAULT_QUALIFIER
    )
    return [
        f"arn:{stack.partition}:iam::{stack.account}:role/"
        f"cdk-{qualifier}-{kind}-{stack.account}-{stack.region}"
        for kind in ("deploy-role", "cfn-exec-role")
    ]
