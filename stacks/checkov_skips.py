"""Every checkov skip of the project, in one table, written into resource Metadata by one aspect.

checkov reads ``Metadata.checkov.skip: [{id, comment}]`` on a CloudFormation resource. Each row
below names one check on the resources whose construct path matches, with a reason a reviewer can
check against the template. The security tests fail on any checkov failure that is not skipped
here, on a skip without a reason, and on a row that matches no resource (a stale skip).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jsii
from aws_cdk import Aspects, CfnResource, IAspect, Stack
from constructs import IConstruct


@dataclass(frozen=True)
class CheckovSkip:
    check_id: str
    # regular expression over the construct path below the stack, e.g. "Buckets/AccessLogs/Resource"
    path: str
    resource_type: str
    reason: str


# CDK creates this provider for `restrict_default_security_group=True`; it runs only while
# CloudFormation deploys the VPC (it revokes the default security group's rules).
_RESTRICT_SG = r"Custom::VpcRestrictDefaultSGCustomResourceProvider/Handler"

CHECKOV_SKIPS: tuple[CheckovSkip, ...] = (
    CheckovSkip(
        "CKV_AWS_18", r"Buckets/AccessLogs/Resource", "AWS::S3::Bucket",
        "This bucket is the server-access-log destination of the training-data and artifacts "
        "buckets; logging it into itself would log every log delivery, and logging it elsewhere "
        "only moves the unlogged bucket one step along. Object-level API calls on it are in "
        "CloudTrail.",
    ),
    CheckovSkip(
        "CKV_AWS_116", _RESTRICT_SG, "AWS::Lambda::Function",
        "CDK's VPC default-security-group provider, invoked only by CloudFormation during "
        "deployment; a failed invocation fails the stack operation, which is the signal "
        "operators watch, so a dead-letter queue would hold events nobody reads.",
    ),
    CheckovSkip(
        "CKV_AWS_117", _RESTRICT_SG, "AWS::Lambda::Function",
        "CDK's VPC default-security-group provider calls the EC2 API "
        "(Revoke/AuthorizeSecurityGroupIngress/Egress) at deployment; the isolated VPC has no EC2 "
        "endpoint and no route out, and the function never handles pipeline data.",
    ),
    CheckovSkip(
        "CKV_AWS_115", _RESTRICT_SG, "AWS::Lambda::Function",
        "CDK's VPC default-security-group provider runs once per deployment of the VPC, invoked "
        "by CloudFormation alone; reserved concurrency would only take capacity from the "
        "account's pool.",
    ),
    CheckovSkip(
        "CKV_AWS_120", r"TriggerApi/Api/DeploymentStage\.v1/Resource", "AWS::ApiGateway::Stage",
        "The trigger API starts runs and reads their live status: a cached response would report "
        "a stale run state or answer a start without starting, and a stage cache would hold run "
        "data outside the project's KMS keys.",
    ),
)  # fmt: skip


def skips_for(path_in_stack: str, resource_type: str) -> list[CheckovSkip]:
    return [
        skip
        for skip in CHECKOV_SKIPS
        if skip.resource_type == resource_type and re.fullmatch(skip.path, path_in_stack)
    ]


@jsii.implements(IAspect)
class CheckovSkipsAspect:
    def visit(self, node: IConstruct) -> None:
        if not CfnResource.is_cfn_resource(node):
            return
        resource = node
        assert isinstance(resource, CfnResource)
        stack_path = Stack.of(resource).node.path
        path_in_stack = resource.node.path.removeprefix(stack_path).lstrip("/")
        skips = skips_for(path_in_stack, resource.cfn_resource_type)
        if skips:
            existing = resource.get_metadata("checkov") or {}
            entries = [*existing.get("skip", []),
                       *({"id": s.check_id, "comment": s.reason} for s in skips)]  # fmt: skip
            resource.add_metadata("checkov", {**existing, "skip": entries})


def register_checkov_skips(scope: IConstruct) -> None:
    Aspects.of(scope).add(CheckovSkipsAspect())
