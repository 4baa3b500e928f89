"""CloudFormation references as text, and what they point at."""

from __future__ import annotations

import json
from typing import Any

from stacks.audit.assembly import CloudAssembly


def flatten(value: Any, assembly: CloudAssembly | None = None) -> str:
    """A reference as flat text, exactly as cdk-nag writes it into finding ids
    (``utils/flatten-cfn-reference``): GetAtt -> ``<Id.Attr>``, Ref -> ``<Id>``, Join joined,
    Sub's ``${x}`` -> ``<x>``. Anything else is JSON as JavaScript's ``JSON.stringify`` writes it.
    With ``assembly`` (for reading, not for finding ids), CDK's cross-stack ``Fn::GetStackOutput``
    becomes ``<producer stack>:<what it exports>``.
    """
    if assembly is not None and isinstance(value, dict) and "Fn::GetStackOutput" in value:
        ref = value["Fn::GetStackOutput"]
        producer = assembly.stacks.get(str(ref.get("StackName")))
        output = (
            producer.template.get("Outputs", {}).get(ref.get("OutputName")) if producer else None
        )
        if producer is not None and output is not None:
            return f"{producer.name}:{flatten(output.get('Value'), assembly)}"
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten(item, assembly) for item in items)
        if "Fn::Sub" in value:
            return flatten(value["Fn::Sub"], assembly)
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten(resource)}.{flatten(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten(value["Fn::ImportValue"], assembly)
        if "Ref" in value:
            return f"<{flatten(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def target(value: Any, stack: str, assembly: CloudAssembly) -> tuple[str, str] | None:
    """(stack, logical id) of the resource a Ref / GetAtt / ImportValue / GetStackOutput names,
    else None."""
    if isinstance(value, dict):
        if (
            "Ref" in value
            and isinstance(value["Ref"], str)
            and not value["Ref"].startswith("AWS::")
        ):
            return stack, value["Ref"]
        if "Fn::GetAtt" in value:
            resource = value["Fn::GetAtt"][0]
            return (stack, resource) if isinstance(resource, str) else None
        if "Fn::ImportValue" in value:
            name = value["Fn::ImportValue"]
            exported = assembly.exports().get(name) if isinstance(name, str) else None
            if exported is not None:
                return target(exported[1], exported[0], assembly)
        if "Fn::GetStackOutput" in value:  # CDK's cross-stack references without exports
            ref = value["Fn::GetStackOutput"]
            producer = assembly.stacks.get(str(ref.get("StackName")))
            output = (
                producer.template.get("Outputs", {}).get(ref.get("OutputName"))
                if producer
                else None
            )
            if producer is not None and output is not None:
                return target(output.get("Value"), producer.name, assembly)
    return None
