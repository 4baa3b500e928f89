"""cdk-nag packs and the way the project acknowledges a finding.

Each acknowledgment names one finding (the granular ``Rule[Finding]`` id where the pack gives one)
on one construct, with a reason a reviewer can check against the template. The helpers below are
the only callers of ``Validations.acknowledge``; each construct acknowledges its own findings
beside the code that causes them (``acknowledge_findings`` of the construct's module), with the
reasons several constructs share defined here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import jsii
from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)
from constructs import IConstruct, IValidation

from stacks.cfn_refs import flatten_cfn_reference

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


LAMBDA_BASIC_EXECUTION = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]"
)


def acknowledge_cdk_providers(app: App) -> None:
    """CDK's own custom-resource providers (``Custom::*CustomResourceProvider``, e.g. the one
    ``restrict_default_security_group`` creates). Their resources are plain ``CfnResource``
    objects that cdk-nag's rules do not inspect; ``tools.audit`` checks the templates and asks
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


def logical_id(construct: IConstruct) -> str:
    from aws_cdk import CfnElement, Stack

    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return Stack.of(construct).resolve(child.logical_id)


@jsii.implements(IValidation)
class _WildcardResourceAcks:
    """Acknowledges a policy's ``AwsSolutions-IAM5[Resource::...]`` findings one resource at a
    time, each with the reason of the first pattern it matches; unmatched wildcards stay
    findings. Runs as a construct validation, i.e. after cross-stack references are resolved,
    so the ids are the ones cdk-nag reports."""

    def __init__(self, policy: IConstruct, reasons: Sequence[tuple[str, str]]) -> None:
        self.policy = policy
        self.reasons = tuple((re.compile(p), r) for p, r in reasons)

    def validate(self) -> list[str]:
        from aws_cdk import Stack
        from aws_cdk import aws_iam as iam

        cfn = self.policy.node.default_child
        assert isinstance(cfn, iam.CfnPolicy)
        document = Stack.of(cfn).resolve(cfn.policy_document)
        for statement in document.get("Statement", []):
            resources = statement.get("Resource", [])
            for resource in resources if isinstance(resources, list) else [resources]:
                flat = flatten_cfn_reference(resource)
                if "*" not in flat:
                    continue
                reason = next((r for p, r in self.reasons if p.search(flat)), None)
                if reason is not None:
                    acknowledge(self.policy, f"AwsSolutions-IAM5[Resource::{flat}]", reason)
        return []


def acknowledge_wildcard_resources(role: IConstruct, reasons: Sequence[tuple[str, str]]) -> None:
    policy = role.node.find_child("DefaultPolicy")
    policy.node.add_validation(_WildcardResourceAcks(policy, reasons))


# Object ARNs under a bucket: keys are created at run time (one prefix per run).
TRAINING_OBJECTS = (
    r"BucketsTrainingData[^/]*/\*$",
    "Objects of the training-data bucket: datasets and weights are uploaded by the team under "
    "keys the pipeline cannot know in advance; read-only (s3:GetObject), KMS via S3 only.",
)
RUN_OBJECTS = (
    r"BucketsArtifacts[^/]*/runs/\*$",
    "Objects under runs/ of the artifacts bucket: each run writes its own runs/<runName>/ prefix, "
    "named at run time.",
)
EC2_DESCRIBE_REASON = (
    "Only ec2:Describe* (network placement of the job's ENIs): EC2 supports no resource-level "
    "permissions for Describe actions. Scoped to the stage's region by aws:RequestedRegion."
)
ENI_REASON = (
    "Network interfaces get service-generated ids. Creation is limited to the project's subnets "
    "and "
    "security group; Bedrock's by aws:RequestTag/BedrockManaged and the job-ARN tag, deletion and "
    "permissions by ec2:Subnet (and ec2:ResourceTag/BedrockManaged), tagging to ec2:CreateAction."
)


def bedrock_reason(what: str) -> str:
    return (
        f"{what} ARNs end in ids Bedrock generates at creation, so they cannot be named in "
        "advance; "
        "the resource type, region and account are fixed."
    )
