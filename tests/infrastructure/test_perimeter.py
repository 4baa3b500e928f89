"""The data perimeter of the stateful stack, read as IAM evaluates it: interface endpoints admit
only this account, and the buckets only the project's endpoint or named principals."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import load_stage
from stacks.constructs.network import INTERFACE_ENDPOINTS
from tests.infrastructure.policies import Request, decide, resource_policy
from tests.support.assembly import Assembly

ACCOUNT, OTHER = "111111111111", "999999999999"
DEV_REGION = load_stage("dev").region
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bcp-dev-workflow-JobsRole-ABC"
FOREIGN_ROLE = f"arn:aws:iam::{OTHER}:role/exfiltration"


def _endpoint(assembly: Assembly, service: str) -> dict[str, Any]:
    for endpoint in assembly.resources("-data", "AWS::EC2::VPCEndpoint").values():
        if endpoint["Properties"]["ServiceName"] == f"com.amazonaws.{DEV_REGION}.{service}":
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
        request = Request(action, f"arn:aws:x:{DEV_REGION}:111111111111:y", principal, context)
        return decide(statements, request, dev_assembly).allowed

    own = {"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": ACCOUNT}
    assert allowed(ROLE, own)
    assert not allowed(FOREIGN_ROLE, {**own, "aws:PrincipalAccount": OTHER})
    foreign_resource = {**own, "aws:ResourceAccount": OTHER}
    # Where AWS-owned resources are read (foundation models, ECR), only the caller is bound.
    assert allowed(ROLE, foreign_resource) is not spec.own_resources


BOOTSTRAP = f"arn:aws:iam::111111111111:role/cdk-{{q}}-cfn-exec-role-111111111111-{DEV_REGION}"


def _bucket_statements(assembly: Assembly, bucket_prefix: str) -> tuple[str, list[Any]]:
    buckets = [
        b for b in assembly.resources("-data", "AWS::S3::Bucket") if b.startswith(bucket_prefix)
    ]
    assert len(buckets) == 1
    policy = resource_policy(assembly, "-data", "AWS::S3::BucketPolicy", f"<{buckets[0]}>")
    return f"<{buckets[0]}.Arn>", policy


@pytest.mark.parametrize("bucket", ["BucketsTrainingData", "BucketsArtifacts"])
def test_bucket_data_and_listing_only_through_the_endpoint_or_named_roles(
    dev_assembly: Assembly, bucket: str
) -> None:
    arn, statements = _bucket_statements(dev_assembly, bucket)
    outside = {"aws:PrincipalAccount": ACCOUNT}

    def denied(action: str, resource: str, principal: str, context: dict[str, str]) -> bool:
        request = Request(action, resource, principal, {"aws:PrincipalArn": principal, **context})
        return bool(decide(statements, request, dev_assembly).deny_sids)

    for action, resource in (("s3:GetObject", f"{arn}/runs/r1/x"), ("s3:ListBucket", arn)):
        # A role named like CDK's (anyone who may create roles can) gets no exemption.
        assert denied(action, resource, "arn:aws:iam::111111111111:role/cdk-anything", outside)
        assert denied(action, resource, ROLE, outside)
        assert not denied(action, resource, BOOTSTRAP.format(q="hnb659fds"), outside)
        assert not denied(action, resource, ROLE, {"aws:SourceVpce": "<NetworkVpcS334FC449B>"})


def test_the_bootstrap_qualifier_comes_from_the_cdk_context() -> None:
    from aws_cdk import App, Stack

    from stacks.constructs.secure_defaults import (
        BOOTSTRAP_QUALIFIER_CONTEXT,
        bootstrap_deployment_roles,
    )

    app = App(context={BOOTSTRAP_QUALIFIER_CONTEXT: "team42"})
    stack = Stack(app, "S", env={"account": "111111111111", "region": "us-east-1"})
    roles = bootstrap_deployment_roles(stack)
    assert any(r.endswith(":role/cdk-team42-cfn-exec-role-111111111111-us-east-1") for r in roles)
    assert all("cdk-team42-" in r for r in roles) and len(roles) == 2


def _key_allows(assembly: Assembly, key_id: str, principal: str) -> bool:
    statements = assembly.resources("-data", "AWS::KMS::Key")[key_id]["Properties"]["KeyPolicy"]
    context = {
        "kms:ViaService": f"lambda.{DEV_REGION}.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
        "aws:PrincipalArn": principal,
    }
    request = Request("kms:Decrypt", f"<{key_id}.Arn>", principal, context)
    return decide(statements["Statement"], request, assembly).allowed


def test_key_policies_name_the_deployment_roles_exactly(dev_assembly: Assembly) -> None:
    data_key = next(k for k in dev_assembly.resources("-data", "AWS::KMS::Key") if "Data" in k)
    # CloudFormation creates the functions with encrypted environments: Lambda uses the key
    # for the execution role of the deployment.
    assert _key_allows(dev_assembly, data_key, BOOTSTRAP.format(q="hnb659fds"))
    assert not _key_allows(dev_assembly, data_key, "arn:aws:iam::111111111111:role/cdk-anything")
