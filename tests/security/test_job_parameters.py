"""What no checker sees: the parameters of the Bedrock and SageMaker jobs.

To cdk-nag, cfn-lint and checkov a state machine definition is an opaque string, and a request a
Lambda builds at run time is in no template. These tests follow the job parameters end to end:
any job task in a definition must carry the model key and the VPC; every function allowed to
create jobs gets the model key, the isolated subnets, the workload security group and the job
roles from the data stack; each role it may pass trusts only its service, bound to this account
and the job type; and the requests the job driver builds from those settings carry them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from lambdas.jobs import requests
from lambdas.jobs.settings import Settings
from tests.support.assembly import Assembly
from tools.audit.assembly import CloudAssembly, StackArtifact, load_assembly
from tools.audit.iam import iam_matrix
from tools.audit.refs import as_list, flatten, target

CREATE_ACTIONS = {
    "bedrock:CreateModelCustomizationJob": "bedrock.amazonaws.com",
    "bedrock:CreateModelImportJob": "bedrock.amazonaws.com",
    "sagemaker:CreateTrainingJob": "sagemaker.amazonaws.com",
}
# Task resources of direct integrations, and the parameters each must carry.
DIRECT_TASKS = {
    "bedrock:createModelCustomizationJob": ("CustomModelKmsKeyId", "VpcConfig"),
    "aws-sdk:bedrock:createModelCustomizationJob": ("CustomModelKmsKeyId", "VpcConfig"),
    "aws-sdk:bedrock:createModelImportJob": ("ImportedModelKmsKeyId", "VpcConfig"),
    "sagemaker:createTrainingJob": ("OutputDataConfig", "VpcConfig"),
    "aws-sdk:sagemaker:createTrainingJob": ("OutputDataConfig", "VpcConfig"),
}


def _definition(value: Any) -> dict[str, Any]:
    """The state machine definition, with each reference replaced by a placeholder."""
    if isinstance(value, dict) and "Fn::Join" in value:
        text = "".join(p if isinstance(p, str) else "REF" for p in value["Fn::Join"][1])
    else:
        text = value if isinstance(value, str) else json.dumps(value)
    definition: dict[str, Any] = json.loads(text)
    return definition


def _states(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in definition.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _states(state[key])


def _job_tasks(stack: StackArtifact) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for res in stack.resources.values():
        if res["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        props = res["Properties"]
        for state in _states(_definition(props.get("DefinitionString") or props.get("Definition"))):
            resource = str(state.get("Resource", ""))
            for integration in DIRECT_TASKS:
                if re.search(rf":states:::{re.escape(integration)}(\.sync)?$", resource):
                    found.append((integration, state.get("Parameters", {})))
    return found


def _job_starters(stack: StackArtifact) -> list[tuple[str, set[str]]]:
    """(function logical id, create actions its role allows) for every function that may start
    a Bedrock or SageMaker job."""
    allowed: dict[str, set[str]] = {}
    for principal in iam_matrix(stack):
        actions = {a for p in principal.permissions if p.effect == "Allow" for a in p.actions}
        creates = actions & set(CREATE_ACTIONS)
        if creates:
            allowed[principal.logical_id] = creates
    return [
        (lid, allowed[_role_of(stack, lid)])
        for lid, res in stack.resources.items()
        if res["Type"] == "AWS::Lambda::Function" and _role_of(stack, lid) in allowed
    ]


def _resolved(value: Any, stack: StackArtifact, assembly: CloudAssembly) -> list[dict[str, Any]]:
    """The resources an environment value names (a comma-joined list names several)."""
    if isinstance(value, dict) and "Fn::Join" in value:
        parts = [p for p in value["Fn::Join"][1] if p != ","]
    else:
        parts = [value]
    out = []
    for part in parts:
        hit = target(part, stack.name, assembly)
        assert hit is not None, f"{flatten(part)} is not a resource of this app"
        out.append({"stack": hit[0], "id": hit[1], **assembly.stacks[hit[0]].resources[hit[1]]})
    return out


@pytest.fixture(scope="module", params=["dev", "prod"])
def stage(request: pytest.FixtureRequest) -> tuple[CloudAssembly, Assembly]:
    synthesized: Assembly = request.getfixturevalue(f"{request.param}_assembly")
    return load_assembly(synthesized.outdir), synthesized


def test_jobs_are_started_by_functions_or_by_tasks_that_carry_key_and_vpc(
    stage: tuple[CloudAssembly, Assembly],
) -> None:
    assembly, _ = stage
    tasks = [t for s in assembly.stacks.values() for t in _job_tasks(s)]
    starters = [f for s in assembly.stacks.values() for f in _job_starters(s)]
    assert tasks or starters, "no Bedrock or SageMaker job is started anywhere"
    for integration, parameters in tasks:
        for required in DIRECT_TASKS[integration]:
            assert required in parameters, f"{integration} task without {required}"


def test_job_starters_get_model_key_isolated_subnets_and_workload_group(
    stage: tuple[CloudAssembly, Assembly],
) -> None:
    assembly, synthesized = stage
    data = synthesized.pipeline.data
    for stack in assembly.stacks.values():
        for function, _ in _job_starters(stack):
            env = stack.resources[function]["Properties"]["Environment"]["Variables"]
            (key,) = _resolved(env["MODEL_KEY_ARN"], stack, assembly)
            assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"]
            assert key["id"] == _logical_id(data.keys.model_key)
            subnets = _resolved(env["SUBNET_IDS"], stack, assembly)
            assert {s["id"] for s in subnets} == {
                _logical_id(s) for s in data.network.vpc.isolated_subnets
            }
            assert all(not s["Properties"].get("MapPublicIpOnLaunch") for s in subnets)
            (group,) = _resolved(env["SECURITY_GROUP_IDS"], stack, assembly)
            assert group["id"] == _logical_id(data.network.workload_security_group)


def test_job_roles_trust_only_their_service_for_this_account(
    stage: tuple[CloudAssembly, Assembly],
) -> None:
    assembly, synthesized = stage
    account = synthesized.pipeline.config.account
    for stack in assembly.stacks.values():
        roles = {p.logical_id: p for p in iam_matrix(stack)}
        for function, creates in _job_starters(stack):
            holder = _role_of(stack, function)
            passes = [
                p
                for p in roles[holder].permissions
                if p.effect == "Allow" and "iam:PassRole" in p.actions
            ]
            assert passes, f"{function} may create jobs but pass no role"
            for statement in passes:
                service = statement.conditions["StringEquals"]["iam:PassedToService"]
                assert service in {CREATE_ACTIONS[a] for a in creates}
                for resource in statement.resources:
                    role_id = re.fullmatch(r"<(\w+)\.Arn>", resource)
                    assert role_id, f"{function} may pass {resource}, not one of this stack's roles"
                    (trust,) = roles[role_id.group(1)].trust
                    assert trust.principals == (f"Service: {service}",)
                    assert trust.conditions["StringEquals"]["aws:SourceAccount"] == account
                    arn_condition = trust.conditions.get("ArnEquals") or trust.conditions["ArnLike"]
                    assert f":{account}:" in arn_condition["aws:SourceArn"]


def test_requests_built_from_the_deployed_settings_carry_key_and_vpc(
    stage: tuple[CloudAssembly, Assembly],
) -> None:
    assembly, _ = stage
    for stack in assembly.stacks.values():
        for function, _ in _job_starters(stack):
            env = stack.resources[function]["Properties"]["Environment"]["Variables"]
            settings = Settings.from_env({k: _placeholder(k, v) for k, v in env.items()})
            state = _minimal_state()
            custom = requests.customization(state, settings)
            assert custom["customModelKmsKeyId"] == settings.MODEL_KEY_ARN
            assert custom["vpcConfig"] == settings.vpc
            imported = requests.model_import(state, settings)
            assert imported["importedModelKmsKeyId"] == settings.MODEL_KEY_ARN
            assert imported["vpcConfig"] == settings.vpc
            training = requests.training(state, settings)
            assert training["OutputDataConfig"]["KmsKeyId"] == settings.MODEL_KEY_ARN
            assert training["ResourceConfig"]["VolumeKmsKeyId"] == settings.MODEL_KEY_ARN
            assert training["VpcConfig"]["Subnets"] == list(settings.SUBNET_IDS)
            assert training["EnableNetworkIsolation"] is True


def _placeholder(name: str, value: Any) -> str:
    """A deploy-time value as the function would see it: references become distinct ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value and "," in value["Fn::Join"][1]:
        parts = [p for p in value["Fn::Join"][1] if p != ","]
        return ",".join(f"{name.lower()}-{i}" for i in range(len(parts)))
    return f"{name.lower()}-value"


def _minimal_state() -> dict[str, Any]:
    names = {"jobName": "bcp-dev-r1-job", "modelName": "bcp-dev-r1-model", "token": "t" * 16}
    return {
        "run": {
            "runName": "r1", "baseModelId": "meta.llama3-2-1b-instruct-v1:0:128k",
            "customizationType": "FINE_TUNING", "trainingDataUri": "s3://b/train.jsonl",
            "trainer": "container", "tags": {},
            "container": {"baseWeightsUri": "s3://b/w/", "maxRuntimeS": 3600, "useSpot": False,
                          "method": "lora", "instanceType": "ml.g5.2xlarge", "instanceCount": 1,
                          "volumeSizeGb": 100},
        },
        "names": {"customization": names, "training": names, "import": names},
    }  # fmt: skip


def _role_of(stack: StackArtifact, function: str) -> str:
    role = stack.resources[function]["Properties"].get("Role")
    return (
        str(as_list(role["Fn::GetAtt"])[0])
        if isinstance(role, dict) and "Fn::GetAtt" in role
        else ""
    )


def _logical_id(construct: Any) -> str:
    from aws_cdk import Stack

    child = construct.node.default_child if construct.node.default_child else construct
    return str(Stack.of(construct).resolve(child.logical_id))
