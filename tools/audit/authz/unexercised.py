"""The one table of actions granted to the handlers' roles that no scenario's recorded call
requests, each kept with its reason. ``reason_for`` matches a granted action (which may itself
hold a wildcard) against the patterns; a grant without a row is listed in the audit report as
having no reason."""

from __future__ import annotations

import re

from tools.audit.authz.policy import wildcard

# (actions, regular expression searched in the granting statement's label, reason)
REASONS: list[tuple[tuple[str, ...], str, str]] = [
    (
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        "",
        "Lambda writes the function's own log group with the execution role (Lambda Developer "
        "Guide, monitoring-cloudwatchlogs.html).",
    ),
    (
        (
            "ec2:CreateNetworkInterface",
            "ec2:DeleteNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ),
        "",
        "Lambda attaches the function to the project subnets with the execution role "
        "(Lambda Developer Guide, configuration-vpc.html).",
    ),
    (
        ("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
        "",
        "Lambda active tracing sends the function's segments with the execution role (Lambda "
        "Developer Guide, services-xray.html).",
    ),
    (
        ("sqs:SendMessage",),
        "",
        "Lambda sends failed asynchronous events to the function's dead-letter queue with the "
        "execution role; proven as a delivery path, not by a handler call.",
    ),
    (
        ("kms:Decrypt", "kms:GenerateDataKey"),
        "DeadLetters",
        "SQS encrypts the dead-letter message with the data key under the execution role; "
        "proven as a delivery path (SQS Developer Guide, sqs-key-management.html).",
    ),
    (
        ("kms:CreateGrant", "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"),
        "ModelKeyThrough",
        "Bedrock and SageMaker use the caller's permissions on the model key when a job or an "
        "invocation names it (Bedrock User Guide, encryption-custom-job.html and "
        "encryption-import-model.html); the emulated services make no KMS calls.",
    ),
    (
        ("s3:ListBucket",),
        "ReportsList",
        "Reading a report that is not there yet answers 404, not 403, only with s3:ListBucket "
        "(S3 API Reference, API_HeadObject.html, Permissions).",
    ),
]


def reason_for(action: str, statement: str) -> str | None:
    for actions, where, reason in REASONS:
        if not re.search(where, statement):
            continue
        if any(wildcard(action, a, case=False) or wildcard(a, action, case=False) for a in actions):
            return reason
    return None
