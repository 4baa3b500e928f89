"""The data perimeter of the stateful stack, read as IAM evaluates it: interface endpoints admit
only this account, and the buckets only the project's endpoint or named principals."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.constructs.network import INTERFACE_ENDPOINTS
from tests.conftest import Assembly
from tests.infrastructure.policies import Request, decide

ACCOUNT, OTHER = "111111111111", "999999999999"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bcp-dev-workflow-JobsRole-ABC"
FOREIGN_ROLE = f"arn:aws:iam::{OTHER}:role/exfiltration"


def _endpoint(assembly: Assembly, service: str) -> dict[str, Any]:
    for endpoint in assembly.resources("-data", "AWS::EC2::VPCEndpoint").values():
        if endpoint["Properties"]["ServiceName"] == f"com.amazonaws.us-east-1.{service}":
            return endpoint
    raise AssertionError(f"no endpoint for {service}")


@pytest.mark.parametrize("spec", INTERFACE_ENDPOINTS, ids=lambda s: s.service)
def test_interface_endpoints_admit_only_this_account(dev_assembly: Assembly, spec: Any) -> None:
    endpoint = _endpoint(dev_assembly, spec.service)
    document = endpoint["Properties"].get("PolicyDocument")
    assert document, f"{spec.service}: no endpoint policy (the default allows every principal)"
    statements = document["Statement"]
    action = f"{spec.service.split('.')[0]}:AnyAction"

    def allowed(principal: str, context: dict[str, str]) -> bool:
        request = Request(action, "arn:aws:x:us-east-1:111111111111:y", principal, context)
        return decide(statements, request, dev_assembly).allowed

    own = {"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": ACCOUNT}
    assert allowed(ROLE, own)
    assert not allowed(FOREIGN_ROLE, {**own, "aws:PrincipalAccount": OTHER})
    foreign_resource = {**own, "aws:ResourceAccount": OTHER}
    # Where AWS-owned resources are read (foundation models, ECR), only the caller is bound.
    assert allowed(ROLE, foreign_resource) is not spec.own_resources
