"""The synthesized templates as CloudFormation would deploy them: physical names, ARNs, and
every intrinsic resolved.

Resources without an explicit name get CloudFormation's generated form
``<stack>-<logical id>-<suffix>`` (so ``role/bcp-dev-*`` patterns see what they will see in the
account); the suffix is the fixed text ``GENERATED``. Unknown attributes resolve to a text that
names them, never to a guess that could make a policy match by accident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SUFFIX = "GENERATED"


@dataclass(frozen=True)
class Resource:
    stack: str
    logical_id: str
    type: str
    properties: dict[str, Any]


class Deployment:
    """``templates``: stack name -> template; ``account``/``region``: the stage's environment."""

    def __init__(self, templates: Mapping[str, dict[str, Any]], account: str, region: str) -> None:
        self.templates = dict(templates)
        self.account = account
        self.region = region
        self._values: dict[tuple[str, str], dict[str, Any]] = {}

    # -- resources ---------------------------------------------------------------------------
    def resources(self, type_: str | None = None) -> Iterator[Resource]:
        for stack, template in self.templates.items():
            for logical, res in template.get("Resources", {}).items():
                if type_ is None or res["Type"] == type_:
                    yield Resource(stack, logical, res["Type"], res.get("Properties", {}))

    def resource(self, stack: str, logical: str) -> Resource:
        res = self.templates[stack]["Resources"][logical]
        return Resource(stack, logical, res["Type"], res.get("Properties", {}))

    def values(self, stack: str, logical: str) -> dict[str, Any]:
        """Ref and attributes of one resource, as deployed."""
        key = (stack, logical)
        if key not in self._values:
            self._values[key] = {}  # breaks reference cycles (names that name themselves)
            self._values[key] = self._physical(self.resource(stack, logical))
        return self._values[key]

    def find(self, value: str) -> tuple[str, str] | None:
        """(stack, logical id) whose Ref or an attribute equals ``value``."""
        for r in self.resources():
            if value in [v for v in self.values(r.stack, r.logical_id).values()]:
                return r.stack, r.logical_id
        return None

    def _name(self, r: Resource, prop: str | None, lower: bool = False, limit: int = 64) -> str:
        given = r.properties.get(prop) if prop else None
        if given is not None:
            return str(self.resolve(given, r.stack))
        head = f"{r.stack}-{r.logical_id}"[: limit - len(SUFFIX) - 1]
        name = f"{head}-{SUFFIX}"
        return name.lower() if lower else name

    def _physical(self, r: Resource) -> dict[str, Any]:
        a, g, s = self.account, self.region, r.logical_id
        t = r.type
        if t == "AWS::S3::Bucket":
            name = self._name(r, "BucketName", lower=True, limit=63)
            return {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        if t == "AWS::KMS::Key":
            return {"Ref": f"key-{s}", "Arn": f"arn:aws:kms:{g}:{a}:key/key-{s}", "KeyId": s}
        if t == "AWS::IAM::Role":
            name = self._name(r, "RoleName")
            path = r.properties.get("Path", "/")
            return {"Ref": name, "Arn": f"arn:aws:iam::{a}:role{path}{name}", "RoleId": s}
        if t == "AWS::SNS::Topic":
            name = self._name(r, "TopicName", limit=256)
            arn = f"arn:aws:sns:{g}:{a}:{name}"
            return {"Ref": arn, "TopicArn": arn, "TopicName": name}
        if t == "AWS::SQS::Queue":
            name = self._name(r, "QueueName", limit=80)
            url = f"https://sqs.{g}.amazonaws.com/{a}/{name}"
            return {
                "Ref": url,
                "QueueUrl": url,
                "QueueName": name,
                "Arn": f"arn:aws:sqs:{g}:{a}:{name}",
            }
        if t == "AWS::Lambda::Function":
            name = self._name(r, "FunctionName")
            return {"Ref": name, "Arn": f"arn:aws:lambda:{g}:{a}:function:{name}"}
        if t == "AWS::StepFunctions::StateMachine":
            name = self._name(r, "StateMachineName", limit=80)
            arn = f"arn:aws:states:{g}:{a}:stateMachine:{name}"
            return {"Ref": arn, "Arn": arn, "Name": name}
        if t == "AWS::Logs::LogGroup":
            name = self._name(r, "LogGroupName", limit=512)
            return {"Ref": name, "Arn": f"arn:aws:logs:{g}:{a}:log-group:{name}:*"}
        if t == "AWS::Events::Rule":
            name = self._name(r, "Name")
            return {"Ref": name, "Arn": f"arn:aws:events:{g}:{a}:rule/{name}"}
        if t == "AWS::CloudWatch::Alarm":
            name = self._name(r, "AlarmName", limit=255)
            return {"Ref": name, "Arn": f"arn:aws:cloudwatch:{g}:{a}:alarm:{name}"}
        if t == "AWS::ApiGateway::RestApi":
            return {"Ref": f"api-{s}", "RootResourceId": f"root-{s}"}
        if t == "AWS::EC2::VPCEndpoint":
            return {"Ref": f"vpce-{s}", "Id": f"vpce-{s}"}
        if t == "AWS::EC2::VPC":
            return {"Ref": f"vpc-{s}", "VpcId": f"vpc-{s}"}
        if t == "AWS::WAFv2::WebACL":
            name = self._name(r, "Name", limit=128)
            return {"Ref": name, "Arn": f"arn:aws:wafv2:{g}:{a}:regional/webacl/{name}/id"}
        service = t.split("::")[1].lower()
        return {"Ref": s, "Arn": f"arn:aws:{service}:{g}:{a}:{s}", "GroupId": f"sg-{s}"}

    # -- intrinsics ---------------------------------------------------------------------------
    def resolve(self, node: Any, stack: str) -> Any:
        """``node`` with Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split,
        Fn::ImportValue and CDK's Fn::GetStackOutput replaced by deployed values."""
        if isinstance(node, list):
            return [self.resolve(n, stack) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.resolve(v, stack) for k, v in node.items()}
        ((key, arg),) = node.items()
        if key == "Ref":
            return self._pseudo(arg) if arg.startswith("AWS::") else self._attr(stack, arg, "Ref")
        if key == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._attr(stack, logical, attribute)
        if key == "Fn::Join":
            delimiter, parts = arg
            return delimiter.join(str(self.resolve(p, stack)) for p in self.resolve(parts, stack))
        if key == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in local:
                    return str(self.resolve(local[name], stack))
                if "." in name:
                    logical, attribute = name.split(".", 1)
                    return str(self._attr(stack, logical, attribute))
                return str(self.resolve({"Ref": name}, stack))

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items, stack)[int(index)]
        if key == "Fn::Split":
            delimiter, text = arg
            return str(self.resolve(text, stack)).split(delimiter)
        if key == "Fn::GetStackOutput":
            source = arg["StackName"]
            value = self.templates[source]["Outputs"][arg["OutputName"]]["Value"]
            return self.resolve(value, source)
        if key == "Fn::ImportValue":
            name = self.resolve(arg, stack)
            for source, template in self.templates.items():
                for output in template.get("Outputs", {}).values():
                    if output.get("Export", {}).get("Name") == name:
                        return self.resolve(output["Value"], source)
            return f"<import {name}>"
        return {key: self.resolve(arg, stack)}

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::Partition": "aws",
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }.get(name, f"<{name}>")

    def _attr(self, stack: str, logical: str, attribute: str) -> Any:
        if logical not in self.templates[stack].get("Resources", {}):
            return f"<{logical}.{attribute}>"  # a parameter, e.g. the bootstrap version
        return self.values(stack, logical).get(attribute, f"<{logical}.{attribute}>")

    def document(self, node: Any, stack: str) -> dict[str, Any]:
        """A policy document with every intrinsic resolved (a JSON string is parsed)."""
        resolved = self.resolve(node, stack)
        return json.loads(resolved) if isinstance(resolved, str) else dict(resolved or {})
