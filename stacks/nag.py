"""cdk-nag packs and every acknowledgment of a finding, in one place.

Each acknowledgment names one finding (the granular ``Rule[Finding]`` id where the pack gives one)
on one construct, with a reason a reviewer can check against the template. The functions below are
the only callers of ``Validations.acknowledge`` in the project; stacks call them once, at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)
from constructs import IConstruct

if TYPE_CHECKING:
    from stacks.constructs.function import PipelineFunction
    from stacks.data_stack import DataStack

PACKS = (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)
# Rule prefixes of the compliance packs that share rule names (HIPAA, NIST 800-53 R5, PCI DSS).
COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")

INLINE_POLICY_REASON = (
    "The policy is CDK's per-role default policy holding grants scoped to this role's own "
    "resources; an inline policy keeps a strict one-to-one lifecycle with the role, which AWS "
    "recommends for permissions that must never be attached to another principal."
)
REPLICATION_REASON = (
    "No cross-region replication: Bedrock reads datasets and writes artifacts only in the stage's "
    "region, every object is reproducible from the team's source data and the pipeline, and "
    "versioning with noncurrent-version retention protects against deletion and overwrite."
)


def register_nag_packs(app: App) -> None:
    """Run every pack as a validation plugin: synthesis fails on any unacknowledged finding."""
    Validations.of(app).add_plugins(*(pack(app) for pack in PACKS))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_compliance(scope: IConstruct, rule: str, reason: str) -> None:
    """The same rule in the three compliance packs (each reports it under its own prefix)."""
    for pack in COMPLIANCE_PACKS:
        acknowledge(scope, f"{pack}-{rule}", reason)


def acknowledge_inline_policies(roles: Iterable[IConstruct]) -> None:
    for role in roles:
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            acknowledge_compliance(policy.node.default_child or policy, "IAMNoInlinePolicy",
                                   INLINE_POLICY_REASON)  # fmt: skip


def acknowledge_data_stack(stack: DataStack) -> None:
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


def acknowledge_function(fn: PipelineFunction) -> None:
    """The findings every PipelineFunction carries by design."""
    policy = fn.role.node.find_child("DefaultPolicy")
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "Only ec2:*NetworkInterface*/DescribeSubnets (Lambda's VPC ENI management) and "
        "xray:PutTraceSegments/PutTelemetryRecords (active tracing) use Resource '*': neither "
        "service supports resource-level permissions for these actions. Scoped to the region.",
    )
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[Resource::<{_logical_id(fn.log_group)}.Arn>:*]",
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


LAMBDA_BASIC_EXECUTION = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]"
)


def acknowledge_cdk_providers(app: App) -> None:
    """CDK's own custom-resource providers (``Custom::*CustomResourceProvider``, e.g. the one
    ``restrict_default_security_group`` creates). Their resources are plain ``CfnResource``
    objects that cdk-nag's rules do not inspect; ``stacks.audit`` checks the templates and asks
    for these acknowledgments."""
    for construct in app.node.find_all():
        if construct.node.id.startswith("Custom::") and construct.node.id.endswith(
            "CustomResourceProvider"
        ):
            acknowledge(
                construct,
                LAMBDA_BASIC_EXECUTION,
                "CDK attaches AWSLambdaBasicExecutionRole to the role of its deployment-time "
                "custom-resource provider and exposes no way to replace it; the policy grants only "
                "logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents, and the function "
                "runs only while CloudFormation deploys the stack.",
            )


def _logical_id(construct: IConstruct) -> str:
    from aws_cdk import CfnElement, Stack

    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return Stack.of(construct).resolve(child.logical_id)
