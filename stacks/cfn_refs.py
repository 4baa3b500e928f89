"""CloudFormation references rendered as text, the way cdk-nag writes them into finding ids
(cdk-nag lib/utils/flatten-cfn-reference.js). Shared by the acknowledgments (stacks/nag.py),
which must name findings exactly, and the audit report, which shows the same ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# Renders CDK's cross-stack {"Fn::GetStackOutput": ...} for readers; None keeps cdk-nag's form.
StackOutputReader = Callable[[dict[str, Any]], str | None]


def flatten_cfn_reference(value: Any, read_stack_output: StackOutputReader | None = None) -> str:
    """GetAtt -> ``<Id.Attr>``, Ref -> ``<Id>``, Join joined, Sub's ``${x}`` -> ``<x>``;
    anything else is JSON as JavaScript's ``JSON.stringify`` writes it."""

    def flat(node: Any) -> str:
        return flatten_cfn_reference(node, read_stack_output)

    if read_stack_output is not None and isinstance(value, dict) and "Fn::GetStackOutput" in value:
        text = read_stack_output(value["Fn::GetStackOutput"])
        if text is not None:
            return text
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flat(item) for item in items)
        if "Fn::Sub" in value:
            return flat(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flat(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))
