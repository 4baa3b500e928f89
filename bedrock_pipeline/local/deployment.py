"""The synthesized stacks, deployed into moto: the workflow runs exactly as synthesized.

The state machine's ``DefinitionString`` is an ``Fn::Join`` over ``Fn::GetAtt`` tokens (and the
functions' environments hold cross-stack ``Fn::GetStackOutput`` tokens). ``MotoDeployment``
creates the resources those tokens name in moto (buckets, keys, roles, functions, topic, queues),
resolves every token to the emulator's physical id, and creates the state machine from the
resolved definition; nothing in the definition is written by hand. Lambda tasks run in-process
through the real handlers with the function's synthesized (resolved) environment.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import threading
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import boto3

from bedrock_pipeline.local.emulator import ACCOUNT, REGION, AwsEmulator

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stack",
    "AWS::NoValue": None,
}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@dataclass
class Function:
    logical_id: str
    arn: str
    handler: str
    environment: dict[str, str]
    timeout_s: int


class FakeContext:
    def __init__(self, fn: Function) -> None:
        self.function_name = fn.arn.rsplit(":", 1)[-1]
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = 512
        self.aws_request_id = f"req-{time.monotonic_ns()}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "stream"
        self._deadline = time.monotonic() + fn.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self._deadline - time.monotonic()) * 1000)


class MotoDeployment:
    def __init__(self, templates: Mapping[str, dict[str, Any]], emulator: AwsEmulator) -> None:
        self.templates = templates
        self.emulator = emulator
        self.values: dict[
            tuple[str, str], dict[str, Any]
        ] = {}  # (stack, logical) -> {"Ref", attr...}
        self.functions: dict[str, Function] = {}  # by ARN and by name
        self.rules: list[tuple[str, dict[str, Any]]] = []
        self.invoke_lock = threading.Lock()
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self.state_machine_arn = ""
        self._clients = {
            n: boto3.client(n, region_name=REGION)
            for n in ("s3", "kms", "iam", "lambda", "sns", "sqs", "stepfunctions", "events")
        }

    # -- token resolution -------------------------------------------------------------------
    def stack_named(self, suffix: str) -> str:
        return next(name for name in self.templates if name.endswith(suffix))

    def resolve(self, node: Any, stack: str) -> Any:
        if isinstance(node, list):
            return [self.resolve(n, stack) for n in node]
        if not isinstance(node, dict):
            return node
        if "Ref" in node:
            ref = node["Ref"]
            return PSEUDO[ref] if ref in PSEUDO else self.values[(stack, ref)]["Ref"]
        if "Fn::GetAtt" in node:
            logical, attribute = node["Fn::GetAtt"]
            return self.values[(stack, logical)][attribute]
        if "Fn::Join" in node:
            delimiter, parts = node["Fn::Join"]
            return delimiter.join(str(self.resolve(p, stack)) for p in parts)
        if "Fn::GetStackOutput" in node:
            ref = node["Fn::GetStackOutput"]
            source = ref["StackName"]
            return self.resolve(
                self.templates[source]["Outputs"][ref["OutputName"]]["Value"], source
            )
        if "Fn::ImportValue" in node:
            name = self.resolve(node["Fn::ImportValue"], stack)
            for source, template in self.templates.items():
                for output in template.get("Outputs", {}).values():
                    if output.get("Export", {}).get("Name") == name:
                        return self.resolve(output["Value"], source)
            raise KeyError(name)
        if "Fn::Select" in node:
            index, items = node["Fn::Select"]
            return self.resolve(items, stack)[int(index)]
        if "Fn::Split" in node:
            delimiter, text = node["Fn::Split"]
            return str(self.resolve(text, stack)).split(delimiter)
        if "Fn::Sub" in node:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            return re.sub(
                r"\$\{([^}]+)\}", lambda m: str(self.resolve({"Ref": m.group(1)}, stack)), text
            )
        return {k: self.resolve(v, stack) for k, v in node.items()}

    # -- deployment ---------------------------------------------------------------------------
    def deploy(self) -> None:
        for stack, template in self.templates.items():
            for logical, resource in template["Resources"].items():
                self.values[(stack, logical)] = self._placeholder(stack, logical, resource["Type"])
        for stack, template in self.templates.items():
            for logical, resource in template["Resources"].items():
                self._create(stack, logical, resource, first_pass=True)
        for stack, template in self.templates.items():
            for logical, resource in template["Resources"].items():
                self._create(stack, logical, resource, first_pass=False)

    def _placeholder(self, stack: str, logical: str, type_: str) -> dict[str, Any]:
        short = logical[-12:].lower()
        arn = f"arn:aws:{type_.split('::')[1].lower()}:{REGION}:{ACCOUNT}:{logical}"
        return {
            "Ref": logical,
            "Arn": arn,
            "GroupId": f"sg-{short}",
            "VpcId": f"vpc-{short}",
            "DnsEntries": [],
            "Id": logical,
        }

    def _create(
        self, stack: str, logical: str, resource: dict[str, Any], *, first_pass: bool
    ) -> None:
        type_, props = resource["Type"], resource.get("Properties", {})
        value = self.values[(stack, logical)]
        c = self._clients
        if first_pass and type_ == "AWS::S3::Bucket":
            name = re.sub(r"[^a-z0-9-]", "", logical.lower())[:63]
            c["s3"].create_bucket(Bucket=name)
            value.update(Ref=name, Arn=f"arn:aws:s3:::{name}")
        elif first_pass and type_ == "AWS::KMS::Key":
            meta = c["kms"].create_key(Description=logical)["KeyMetadata"]
            value.update(Ref=meta["KeyId"], Arn=meta["Arn"])
        elif first_pass and type_ == "AWS::EC2::Subnet":
            value.update(Ref=f"subnet-{logical[-12:].lower()}")
        elif first_pass and type_ == "AWS::IAM::Role":
            arn = c["iam"].create_role(
                RoleName=logical[:64],
                AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {})),
            )["Role"]["Arn"]
            value.update(Ref=logical[:64], Arn=arn)
        elif first_pass and type_ == "AWS::SNS::Topic":
            arn = c["sns"].create_topic(Name=logical)["TopicArn"]
            value.update(Ref=arn, TopicArn=arn, TopicName=logical)
        elif first_pass and type_ == "AWS::SQS::Queue":
            url = c["sqs"].create_queue(QueueName=logical)["QueueUrl"]
            value.update(
                Ref=url,
                QueueUrl=url,
                QueueName=logical,
                Arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{logical}",
            )
        elif not first_pass and type_ == "AWS::Lambda::Function":
            self._create_function(stack, logical, props, value)
        elif not first_pass and type_ == "AWS::Events::Rule":
            self.rules.append((stack, props))  # resolved at delivery: it names the state machine

    def _create_function(
        self, stack: str, logical: str, props: dict[str, Any], value: dict[str, Any]
    ) -> None:
        role = self.resolve(props["Role"], stack)
        arn = self._clients["lambda"].create_function(
            FunctionName=logical[:64],
            Runtime="python3.12",
            Role=role,
            Handler=props["Handler"],
            Code={"ZipFile": _zip()},
            Timeout=props.get("Timeout", 3),
        )["FunctionArn"]
        value.update(Ref=logical[:64], Arn=arn)
        environment = self.resolve(props.get("Environment", {}).get("Variables", {}), stack)
        fn = Function(
            logical,
            arn,
            props["Handler"],
            {k: str(v) for k, v in environment.items()},
            int(props.get("Timeout", 3)),
        )
        self.functions[arn] = self.functions[logical[:64]] = fn

    def create_state_machine(self) -> str:
        stack = self.stack_named("-workflow")
        machines = {
            k: r
            for k, r in self.templates[stack]["Resources"].items()
            if r["Type"] == "AWS::StepFunctions::StateMachine"
        }
        ((logical, resource),) = machines.items()
        definition = self.resolve(resource["Properties"]["DefinitionString"], stack)
        role = self.resolve(resource["Properties"]["RoleArn"], stack)
        self.state_machine_arn = self._clients["stepfunctions"].create_state_machine(
            name=logical, definition=definition, roleArn=role, type="STANDARD"
        )["stateMachineArn"]
        self.values[(stack, logical)].update(Ref=self.state_machine_arn, Arn=self.state_machine_arn)
        return self.state_machine_arn

    # -- Lambda routing -----------------------------------------------------------------------
    def invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        fn = (
            self.functions[function_name.split(":function:")[-1].split(":")[0]]
            if function_name not in self.functions
            else self.functions[function_name]
        )
        event = json.loads(body) if body else {}
        module_name, _, attr = fn.handler.rpartition(".")
        with self.invoke_lock:
            self.invocations.append((fn.logical_id, event))
            saved = dict(os.environ)
            os.environ.update(fn.environment)
            try:
                handler = getattr(importlib.import_module(module_name), attr)
                result = handler(event, FakeContext(fn))
            except Exception as exc:  # what Lambda returns for an unhandled error
                response_headers["x-amz-function-error"] = "Unhandled"
                result = {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": [],
                }
            finally:
                os.environ.clear()
                os.environ.update(saved)
        return json.dumps(result, default=str).encode()

    def deliver_status_change(self, event: dict[str, Any]) -> None:
        """EventBridge for Step Functions status changes: the synthesized rules' patterns decide."""
        from moto.events.models import EventPattern
        from moto.events.utils import EventMessageType

        message = cast(
            EventMessageType, event
        )  # the envelope EventBridge delivers, as moto types it
        for stack, props in self.rules:
            rule = self.resolve(props, stack)
            if not EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(message):
                continue
            for target in rule.get("Targets", []):
                self.invoke(target["Arn"], json.dumps(event), {})

    def handler_modules(self) -> list[Any]:
        return [
            importlib.import_module(f.handler.rpartition(".")[0])
            for f in self.functions.values()
            if f.handler.startswith("lambdas.")
        ]


class _Patcher(Protocol):
    def setattr(self, target: Any, name: str, value: Any) -> None: ...


def deploy_into_moto(
    templates: Mapping[str, dict[str, Any]], emulator: AwsEmulator, patches: _Patcher
) -> MotoDeployment:
    """Deploys the synthesized templates into the active moto account (inside ``mock_aws``)
    with the emulator's extensions: Lambda invocations reach the real handlers in-process,
    status-change events reach the deployment's rule targets, and every cached client or
    environment of the handlers is reset. ``patches`` is pytest's ``monkeypatch`` in tests and
    ``Patches`` in local mode."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    deployment = MotoDeployment(templates, emulator)
    patches.setattr(
        LambdaSimpleBackend,
        "invoke",
        lambda self, name, qualifier, body, headers, response_headers: deployment.invoke(
            name, body, response_headers
        ),
    )
    deployment.deploy()
    deployment.create_state_machine()
    emulator.status_change_targets = deployment.deliver_status_change
    for module in deployment.handler_modules():
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    return deployment
