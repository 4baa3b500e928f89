"""cdk-nag packs and every acknowledgment of a finding, in one place.

Each acknowledgment names one finding (the granular ``Rule[Finding]`` id where the pack gives one)
on one construct, with a reason a reviewer can check against the template. The functions below are
the only callers of ``Validations.acknowledge`` in the project; stacks call them once, at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from stacks.constructs.api import TriggerApi
    from stacks.constructs.function import PipelineFunction
    from stacks.data_stack import DataStack
    from stacks.workflow_stack import WorkflowStack

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


def _logical_id(construct: IConstruct) -> str:
    from aws_cdk import CfnElement, Stack

    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return Stack.of(construct).resolve(child.logical_id)


def acknowledge_api(api: TriggerApi, *, waf: bool) -> None:
    """The trigger API's findings (stacks/constructs/api.py)."""
    for method in api.api.methods:
        acknowledge(
            method,
            "AwsSolutions-COG4",
            "Every method requires AWS_IAM (SigV4) authorization: the callers are applications "
            "and pipelines holding IAM roles, not end users with a Cognito user pool; the "
            "resource policy limits them to the stage's allowed accounts.",
        )
    acknowledge_compliance(
        api.stage,
        "APIGWCacheEnabledAndEncrypted",
        "No response caching: every answer is the live state of a run (status, current step), "
        "a cached answer would report a finished run as running; nothing is cached, so nothing "
        "needs encrypting at rest.",
    )
    acknowledge_compliance(
        api.stage,
        "APIGWSSLEnabled",
        "The rule asks for a client certificate that API Gateway presents to an HTTP backend. "
        "The only integration is the Lambda proxy (AWS_PROXY), invoked through the Lambda API "
        "with API Gateway's IAM permission over TLS; there is no HTTP backend to authenticate to. "
        "Clients reach the API over TLS only (execute-api endpoints serve HTTPS).",
    )
    acknowledge(
        api.logging_role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
        "API Gateway's account-level logging role is one per account and region, shared by every "
        "REST API there; AWS's managed policy is the documented one for it, and a policy scoped "
        "to this API's log groups would silently stop the execution logs of the account's other "
        "APIs.",
    )
    acknowledge_wildcard_resources(
        api.handler.role,
        [
            (
                r":states:[^:]+:[^:]+:execution:(<[^>]+\.Name>|[A-Za-z0-9_-]+):\*$",
                "Describe, read the history of and stop the executions of this one state "
                "machine (its name, not a wildcard, precedes ':*'): execution names are chosen "
                "per run at request time.",
            )
        ],
    )
    if not waf:
        acknowledge(
            api.stage,
            "AwsSolutions-APIG3",
            "WAF is disabled in this stage's configuration (api.waf_enabled=false, or a PRIVATE "
            "endpoint reachable only through the VPC endpoint): requests are still SigV4-"
            "authorized, throttled per stage and per key, and limited by the resource policy.",
        )
        for pack in ("NIST.800.53.R5", "PCI.DSS.321"):
            acknowledge(
                api.stage,
                f"{pack}-APIGWAssociatedWithWAF",
                "WAF is disabled in this stage's configuration (see AwsSolutions-APIG3): SigV4, "
                "the resource policy and the stage and key throttles still apply.",
            )


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


def _bedrock_reason(what: str) -> str:
    return (
        f"{what} ARNs end in ids Bedrock generates at creation, so they cannot be named in "
        "advance; "
        "the resource type, region and account are fixed."
    )


def acknowledge_workflow_stack(stack: WorkflowStack) -> None:
    """Findings of the workflow stack that are by design, each with its reason."""
    acknowledge_inline_policies([*stack.roles.all_roles, stack.workflow.state_machine.role])
    acknowledge(
        stack.jobs.role.node.find_child("DefaultPolicy"),
        "AwsSolutions-IAM5[Resource::*]",
        "Resource '*' only where the Service Authorization Reference gives the action no resource "
        "type: bedrock:CreateModelImportJob (bound to the stage's region and to requests tagged "
        "with the stage), Lambda's ec2 Describe* and X-Ray's PutTraceSegments/"
        "PutTelemetryRecords.",
    )
    acknowledge_wildcard_resources(
        stack.jobs.role,
        [
            TRAINING_OBJECTS,
            RUN_OBJECTS,
            (r":model-customization-job/\*$", _bedrock_reason("Customization job")),
            (r":custom-model/\*$", _bedrock_reason("Custom model")),
            (r":model-import-job/\*$", _bedrock_reason("Import job")),
            (r":imported-model/\*$", _bedrock_reason("Imported model")),
            (r":provisioned-model/\*$", _bedrock_reason("Provisioned model")),
            (
                r"::foundation-model/\*$",
                "Base models are chosen per run from the stage's allowed list, which the "
                "prepare step enforces; foundation-model ARNs have no account.",
            ),
            (
                rf":training-job/{re.escape(stack.config.prefix)}-\*$",
                "Training jobs are named <stage prefix>-<run>-train at run time; the prefix keeps "
                "other stages' "
                "and teams' jobs out of reach.",
            ),
        ],
    )
    acknowledge_wildcard_resources(
        stack.evaluate.role,
        [
            TRAINING_OBJECTS,
            RUN_OBJECTS,
            (
                r":bedrock:\*::foundation-model/\*$",
                "The evaluation compares the custom model with base and comparison models chosen "
                "per run; "
                "cross-region inference profiles route to foundation models in other regions.",
            ),
            (r":inference-profile/\*$", _bedrock_reason("Inference profile")),
            (r":provisioned-model/\*$", _bedrock_reason("Provisioned model")),
            (r":imported-model/\*$", _bedrock_reason("Imported model")),
            (r":custom-model-deployment/\*$", _bedrock_reason("Custom model deployment")),
        ],
    )
    acknowledge_wildcard_resources(stack.validate.role, [TRAINING_OBJECTS, RUN_OBJECTS])
    for role in stack.roles.all_roles:
        star = EC2_DESCRIBE_REASON
        if role is stack.roles.training:
            star = (
                f"{EC2_DESCRIBE_REASON} Also ecr:GetAuthorizationToken (an account-wide registry "
                "token, no resource type) and cloudwatch:PutMetricData (no resource type; limited "
                "to the /aws/sagemaker/* namespaces by condition)."
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
                    "SageMaker names a training job's log streams <job>/algo-<n>-<timestamp> at "
                    "run time.",
                ),
            ],
        )
    acknowledge_wildcard_resources(
        stack.workflow.state_machine.role,
        [
            (
                r"^\*$",
                "Only X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and CloudWatch "
                "Logs delivery actions (*LogDelivery*, *ResourcePolicy*, DescribeLogGroups), which "
                "support no "
                "resource-level permissions.",
            ),
            (
                r"^<\w+Function\w+\.Arn>:\*$",
                "Qualified ARNs (versions and aliases) of the same pipeline function that the "
                "unqualified ARN names.",
            ),
        ],
    )
    for queue, user in (
        (stack.notifications.dead_letters, "the EventBridge rule's targets (DeadLetterConfig)"),
        (stack.notifications.undelivered_messages, "the topic's subscriptions (RedrivePolicy)"),
    ):
        for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
            acknowledge(
                queue,
                rule,
                f"This queue is the dead-letter queue of {user}; a further queue would "
                "move failed messages away from the alarm that watches this one.",
            )
