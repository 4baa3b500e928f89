"""Security properties of the synthesized workflow stack (both stages)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.assembly import Assembly

STAGES = ["dev_assembly", "prod_assembly"]


def statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = resource["Properties"]["PolicyDocument"]["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policies_of(assembly: Assembly, role_logical_prefix: str) -> list[dict[str, Any]]:
    policies = assembly.resources("-workflow", "AWS::IAM::Policy").values()
    return [
        s
        for p in policies
        for s in statements(p)
        if any(r["Ref"].startswith(role_logical_prefix) for r in p["Properties"]["Roles"])
    ]


@pytest.fixture(params=STAGES)
def assembly(request: pytest.FixtureRequest) -> Assembly:
    result: Assembly = request.getfixturevalue(request.param)
    return result


def test_state_machine_is_standard_logs_all_encrypted_and_traced(assembly: Assembly) -> None:
    (machine,) = assembly.resources("-workflow", "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True
    group_ref = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    group = assembly.resources("-workflow")[group_ref]
    assert "KmsKeyId" in group["Properties"]


@pytest.mark.parametrize(
    ("service", "source_arn"),
    [
        ("bedrock.amazonaws.com", ":model-customization-job/*"),
        ("bedrock.amazonaws.com", ":model-import-job/*"),
        ("sagemaker.amazonaws.com", ":training-job/*"),
    ],
)
def test_service_roles_carry_confused_deputy_conditions(
    assembly: Assembly, service: str, source_arn: str
) -> None:
    account = assembly.pipeline.config.account
    matching = []
    for role in assembly.resources("-workflow", "AWS::IAM::Role").values():
        for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            if s["Principal"].get("Service") != service:
                continue
            condition = s["Condition"]
            arn_condition = condition.get("ArnEquals") or condition.get("ArnLike")
            if str(arn_condition["aws:SourceArn"]).endswith(source_arn):
                assert condition["StringEquals"]["aws:SourceAccount"] == account
                matching.append(role)
    assert len(matching) == 1


def test_bedrock_network_interfaces_need_the_bedrock_request_tags(assembly: Assembly) -> None:
    for role, tag in (
        ("ServiceRolesBedrockCustomizationRole", "BedrockModelCustomizationJobArn"),
        ("ServiceRolesBedrockImportRole", "BedrockModelImportJobArn"),
    ):
        found = {s["Sid"]: s for s in policies_of(assembly, role)}
        create = found["CreateTaggedNetworkInterfaces"]
        assert create["Condition"]["StringEquals"] == {"aws:RequestTag/BedrockManaged": "true"}
        assert f"aws:RequestTag/{tag}" in create["Condition"]["ArnEquals"]
        assert as_list(create["Resource"])[0].endswith(":network-interface/*")
        tags = found["TagOnlyWhileCreating"]["Condition"]
        assert tags["StringEquals"] == {"ec2:CreateAction": "CreateNetworkInterface"}
        assert set(tags["ForAllValues:StringEquals"]["aws:TagKeys"]) == {"BedrockManaged", tag}
        manage = found["ManageOwnNetworkInterfaces"]["Condition"]
        assert manage["StringEquals"] == {"ec2:ResourceTag/BedrockManaged": "true"}
        assert manage["ArnEquals"]["ec2:Subnet"]


def test_pass_role_only_for_the_service_roles_to_their_services(assembly: Assembly) -> None:
    passes = []
    for policy in assembly.resources("-workflow", "AWS::IAM::Policy").values():
        for s in statements(policy):
            if "iam:PassRole" in as_list(s["Action"]) or s["Action"] in ("*", "iam:*"):
                passes.append((policy["Properties"]["Roles"], s))
    by_service = {s["Condition"]["StringEquals"]["iam:PassedToService"]: s for _, s in passes}
    assert set(by_service) == {"bedrock.amazonaws.com", "sagemaker.amazonaws.com"}
    assert all(roles == [{"Ref": _jobs_role(assembly)}] for roles, _ in passes)
    passed = [r["Fn::GetAtt"][0] for s in by_service.values() for r in as_list(s["Resource"])]
    assert sorted(passed) == sorted(
        k for k in assembly.resources("-workflow", "AWS::IAM::Role") if k.startswith("ServiceRoles")
    )


def _jobs_role(assembly: Assembly) -> str:
    (name,) = [
        k for k in assembly.resources("-workflow", "AWS::IAM::Role") if k.startswith("JobsRole")
    ]
    return name


def test_no_statement_grants_a_whole_service(assembly: Assembly) -> None:
    for name, policy in assembly.resources("-workflow", "AWS::IAM::Policy").items():
        for s in statements(policy):
            for action in as_list(s["Action"]):
                assert action != "*" and not action.endswith(":*"), (name, action)


def test_roles_are_named_under_the_stage_prefix(assembly: Assembly) -> None:
    """Key policies admit project principals by ARN pattern <prefix>-*."""
    prefix = assembly.pipeline.config.prefix
    stack_name = next(n for n in assembly.templates if n.endswith("-workflow"))
    assert stack_name.startswith(f"{prefix}-")
    for name, role in assembly.resources("-workflow", "AWS::IAM::Role").items():
        explicit = role["Properties"].get("RoleName")
        assert explicit is None or str(explicit).startswith(f"{prefix}-"), name


def test_sagemaker_scope_is_the_stage_prefix(assembly: Assembly) -> None:
    prefix = assembly.pipeline.config.prefix
    (training,) = [
        s for s in policies_of(assembly, "JobsRole") if s.get("Sid") == "StageTrainingJobs"
    ]
    assert as_list(training["Resource"])[0].endswith(f":training-job/{prefix}-*")


def test_aborted_and_timed_out_runs_are_cleaned_up_and_notified(assembly: Assembly) -> None:
    rules = [
        r
        for r in assembly.resources("-workflow", "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"].get("source") == ["aws.states"]
    ]
    (rule,) = rules
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"]["status"] == ["ABORTED", "TIMED_OUT"]
    targets = {t["Arn"]["Fn::GetAtt"][0] for t in rule["Properties"]["Targets"]}
    assert {t.split("Function")[0] for t in targets} == {"Jobs", "Notify"}
    assert all("DeadLetterConfig" in t for t in rule["Properties"]["Targets"])


def test_alarms_notify_the_encrypted_topic(assembly: Assembly) -> None:
    ((topic_id, topic),) = assembly.resources("-workflow", "AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]
    alarms = assembly.resources("-workflow", "AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"]["MetricName"] for a in alarms}
    assert {"ExecutionsFailed", "ExecutionsTimedOut", "Errors", "Throttles"} <= metrics
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    assert assembly.resources("-workflow", "AWS::CloudWatch::Dashboard")


def test_every_workflow_function_is_wired_into_the_definition(assembly: Assembly) -> None:
    (machine,) = assembly.resources("-workflow", "AWS::StepFunctions::StateMachine").values()
    referenced = {
        p["Fn::GetAtt"][0]
        for p in machine["Properties"]["DefinitionString"]["Fn::Join"][1]
        if isinstance(p, dict)
    }
    assert {r.split("Function")[0] for r in referenced} == {
        "Jobs",
        "Validate",
        "Evaluate",
        "Notify",
    }
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("".join(p if isinstance(p, str) else "ARN" for p in parts))
    run = definition["States"]["Run"]
    # One Catch for every step of the run: the Parallel's, to the clean-up; no step inside
    # catches for itself (it would skip the clean-up).
    assert [c["Next"] for c in run["Catch"]] == ["Clean up"]
    assert run["Catch"][0]["ErrorEquals"] == ["States.ALL"]
    inner = json.dumps(run["Branches"])
    assert '"Catch"' not in inner


def test_every_lambda_task_retries_throttling_with_jitter_but_not_refusals(
    assembly: Assembly,
) -> None:
    (machine,) = assembly.resources("-workflow", "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("".join(p if isinstance(p, str) else "ARN" for p in parts))

    def tasks(states: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for state in states.values():
            if state["Type"] == "Task":
                found.append(state)
            for branch in state.get("Branches", []):
                found += tasks(branch["States"])
            if "ItemProcessor" in state:
                found += tasks(state["ItemProcessor"]["States"])
        return found

    all_tasks = tasks(definition["States"])
    assert len(all_tasks) >= 12
    for task in all_tasks:
        retried = {e: r for r in task["Retry"] for e in r["ErrorEquals"]}
        assert retried["AwsThrottled"]["JitterStrategy"] == "FULL"
        assert "Lambda.TooManyRequestsException" in retried
        assert not {"JobRequestRejected", "States.ALL", "JobFailed"} & set(retried)


def test_jobs_role_can_read_the_weights_sagemaker_encrypted_with_the_model_key(
    assembly: Assembly,
) -> None:
    """The training job writes /opt/ml/model with OutputDataConfig.KmsKeyId = MODEL_KEY_ARN; the
    import-readiness check (before CreateModelImportJob) reads config.json from there via S3."""
    functions = assembly.resources("-workflow", "AWS::Lambda::Function")
    (jobs,) = [f for k, f in functions.items() if k.startswith("JobsFunction")]
    model_key = jobs["Properties"]["Environment"]["Variables"]["MODEL_KEY_ARN"]
    region = assembly.pipeline.config.region
    readable = [
        s
        for s in policies_of(assembly, "JobsRole")
        if "kms:Decrypt" in as_list(s["Action"])
        and model_key in as_list(s["Resource"])
        and f"s3.{region}.amazonaws.com"
        in as_list(s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService"))
    ]
    assert readable, "the jobs role cannot decrypt objects encrypted with the model key via S3"
