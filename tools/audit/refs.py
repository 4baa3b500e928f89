"""CloudFormation references as text, and what they point at."""

from __future__ import annotations

from typing import Any

from stacks.cfn_refs import flatten_cfn_reference
from tools.audit.assembly import CloudAssembly


def flatten(value: Any, assembly: CloudAssembly | None = None) -> str:
    """A reference as flat text, exactly as cdk-nag writes it into finding ids. With
    ``assembly`` (for reading, not for finding ids), CDK's cross-stack ``Fn::GetStackOutput``
    becomes ``<producer stack>:<what it exports>``."""
    if assembly is None:
        return flatten_cfn_reference(value)

    def read_stack_output(ref: dict[str, Any]) -> str | None:
        producer = assembly.stacks.get(str(ref.get("StackName")))
        output = (
            producer.template.get("Outputs", {}).get(ref.get("OutputName")) if producer else None
        )
        if producer is None or output is None:
            return None
        return f"{producer.name}:{flatten(output.get('Value'), assembly)}"

    return flatten_cfn_reference(value, read_stack_output)


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
