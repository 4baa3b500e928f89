"""Network-interface permissions of the function and job roles, as EC2 evaluates them: only
interfaces in the project's subnets, and for Bedrock only its own tagged interfaces."""

from __future__ import annotations

import pytest

from stacks.config import load_stage
from tests.infrastructure.policies import Request, decide, flat, identity_statements, role_id
from tests.support.assembly import Assembly

# The dev stage's region, as the templates name it.
DEV_REGION = load_stage("dev").region
WORKFLOW = "-workflow"
ARN = f"arn:aws:ec2:{DEV_REGION}:111111111111"
ENI = f"{ARN}:network-interface/eni-0123456789abcdef0"
FOREIGN_SUBNET = f"{ARN}:subnet/subnet-0foreign"


def _project_subnets(assembly: Assembly) -> list[str]:
    function = next(iter(assembly.resources(WORKFLOW, "AWS::Lambda::Function").values()))
    ids = function["Properties"]["VpcConfig"]["SubnetIds"]
    return [f"{ARN}:subnet/{flat(i, assembly)}" for i in ids]


@pytest.mark.parametrize("function", ["JobsRole", "ValidateRole", "NotifyRole"])
def test_lambda_network_interfaces_stay_in_the_project_subnets(
    dev_assembly: Assembly, function: str
) -> None:
    role = role_id(dev_assembly, WORKFLOW, function)
    statements = identity_statements(dev_assembly, WORKFLOW, role)
    principal = f"arn:aws:iam::111111111111:role/{role}"
    subnet = _project_subnets(dev_assembly)[0]

    def allowed(action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        request = Request(action, resource, principal, context or {})
        return decide(statements, request, dev_assembly).allowed

    assert allowed("ec2:CreateNetworkInterface", subnet)
    assert allowed("ec2:CreateNetworkInterface", f"{ARN}:network-interface/*")
    assert not allowed("ec2:CreateNetworkInterface", FOREIGN_SUBNET)
    for action in ("DeleteNetworkInterface", "AssignPrivateIpAddresses"):
        assert allowed(f"ec2:{action}", ENI, {"ec2:Subnet": subnet})
        assert not allowed(f"ec2:{action}", ENI, {"ec2:Subnet": FOREIGN_SUBNET})
        assert not allowed(f"ec2:{action}", f"arn:aws:ec2:us-west-2:111111111111:{ENI[-30:]}")
    assert allowed("ec2:DescribeNetworkInterfaces", "*", {"aws:RequestedRegion": DEV_REGION})


@pytest.mark.parametrize(
    ("role_prefix", "tag", "job"),
    [
        ("ServiceRolesBedrockCustomizationRole", "BedrockModelCustomizationJobArn",
         "model-customization-job"),
        ("ServiceRolesBedrockImportRole", "BedrockModelImportJobArn", "model-import-job"),
    ],
)  # fmt: skip
def test_bedrock_roles_delete_only_interfaces_tagged_with_their_job_arn(
    dev_assembly: Assembly, role_prefix: str, tag: str, job: str
) -> None:
    role = role_id(dev_assembly, WORKFLOW, role_prefix)
    statements = identity_statements(dev_assembly, WORKFLOW, role)
    principal = f"arn:aws:iam::111111111111:role/{role}"
    base = {
        "ec2:Subnet": _project_subnets(dev_assembly)[0],
        "ec2:ResourceTag/BedrockManaged": "true",
    }
    own = {**base, f"ec2:ResourceTag/{tag}": f"arn:aws:bedrock:{DEV_REGION}:111111111111:{job}/j1"}
    for action in ("ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"):
        assert decide(statements, Request(action, ENI, principal, own), dev_assembly).allowed
        # A Bedrock-managed interface of another job type (or without the job tag) is not ours.
        assert not decide(statements, Request(action, ENI, principal, base), dev_assembly).allowed
