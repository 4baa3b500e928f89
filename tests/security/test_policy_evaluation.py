"""The IAM evaluator of the authorization proofs, on the rules it relies on (IAM User Guide,
reference_policies_evaluation-logic.html and
reference_policies_elements_condition_operators.html)."""

from __future__ import annotations

from typing import Any

import pytest

from tools.audit.authz.actions import accesses, iam_action
from tools.audit.authz.calls import Authorizer
from tools.audit.authz.deployment import Deployment
from tools.audit.authz.policy import Request, Statement, applies, wildcard

ROLE = "arn:aws:iam::111111111111:role/bcp-dev-workflow-JobsRole-X"


def stmt(**body: Any) -> Statement:
    return Statement("test", {"Effect": "Allow", **body})


def request(
    action: str = "s3:GetObject", resource: str = "arn:aws:s3:::b/k", **ctx: Any
) -> Request:
    return Request(ROLE, action, resource, {k.lower(): v for k, v in ctx.items()})


def test_wildcards_are_iam_wildcards_not_shell_classes() -> None:
    assert wildcard("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c")
    assert wildcard("s3:Get*", "s3:getobject", case=False)
    assert not wildcard("arn:aws:s3:::b/[ab]", "arn:aws:s3:::b/a")  # "[" is a literal in IAM
    assert not wildcard("arn:aws:s3:::b/*", "arn:aws:s3:::other/k")


def test_resource_scoped_statement_never_matches_an_action_without_resource_type() -> None:
    scoped = stmt(
        Action="bedrock:CreateModelImportJob", Resource="arn:aws:bedrock:*:*:model-import-job/*"
    )
    assert not applies(scoped, request("bedrock:CreateModelImportJob", "*"))
    assert applies(
        stmt(Action="bedrock:CreateModelImportJob", Resource="*"),
        request("bedrock:CreateModelImportJob", "*"),
    )


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"StringEquals": {"kms:ViaService": ["s3.us-east-1.amazonaws.com"]}}, {}, False),
        (
            {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}},
            {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
            False,
        ),
        (
            {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}},
            {},
            True,
        ),  # negated: missing key matches
        ({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}, {"aws:SourceVpce": "vpce-1"}, False),
        ({"BoolIfExists": {"aws:ViaAWSService": "false"}}, {}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        (
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/bcp-dev-*"}},
            {"aws:PrincipalArn": ROLE},
            True,
        ),
        ({"NumericLessThan": {"s3:TlsVersion": 1.2}}, {"s3:TlsVersion": "1.3"}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a"]}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["c"]}}, {"aws:TagKeys": ["a"]}, False),
        ({"Null": {"aws:SourceArn": "true"}}, {}, True),
    ],
)
def test_condition_operators(
    condition: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    assert (
        applies(stmt(Action="*", Resource="*", Condition=condition), request(**context)) is expected
    )


def key_template(
    key_policy: list[dict[str, Any]], identity: list[dict[str, Any]]
) -> dict[str, Any]:
    doc = lambda s: {"Version": "2012-10-17", "Statement": s}  # noqa: E731
    return {
        "s": {
            "Resources": {
                "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": doc(key_policy)}},
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {"AssumeRolePolicyDocument": doc([])},
                },
                "Policy": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {"PolicyDocument": doc(identity), "Roles": [{"Ref": "Role"}]},
                },
            }
        }
    }


def test_key_policy_that_names_the_account_needs_the_identity_policy_too() -> None:
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    use = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    for identity, allowed in (([], False), ([use], True)):
        d = Deployment(key_template([root], identity), "111111111111", "us-east-1")
        a = Authorizer(d)
        role, key = d.values("s", "Role")["Arn"], d.values("s", "Key")["Arn"]
        reason = a.denial(Request(role, "kms:Decrypt", key, {}))
        assert (reason is None) is allowed, reason


def test_explicit_deny_wins_over_an_allow() -> None:
    allow = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}
    d = Deployment(key_template([allow, deny], []), "111111111111", "us-east-1")
    role, key = d.values("s", "Role")["Arn"], d.values("s", "Key")["Arn"]
    assert "explicitly denied" in str(Authorizer(d).denial(Request(role, "kms:Decrypt", key, {})))


def test_call_to_action_and_resources_comes_from_the_service_authorization_reference() -> None:
    assert iam_action("s3", "ListObjectsV2") == "s3:ListBucket"
    assert iam_action("bedrock-runtime", "Converse") == "bedrock:InvokeModel"
    found, _ = accesses("s3", "GetObject", {"Bucket": "b", "Key": "k/1"}, "us-east-1", "1")
    assert [a.resource for a in found] == ["arn:aws:s3:::b/k/1"]
    found, _ = accesses("bedrock", "CreateModelImportJob", {"jobName": "j"}, "us-east-1", "1")
    assert [a.resource for a in found] == ["*"]
    arn = "arn:aws:bedrock:us-east-1:1:imported-model/abc"
    found, _ = accesses("bedrock-runtime", "Converse", {"modelId": arn}, "us-east-1", "1")
    assert [a.resource for a in found] == [arn]
    found, _ = accesses("bedrock-runtime", "Converse", {"modelId": "meta.llama3"}, "us-east-1", "1")
    assert [a.resource for a in found] == [
        "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3"
    ]
    # A cross-region inference profile: the profile and the foundation model it routes to.
    profile = {"modelId": "us.meta.llama3-2-1b-instruct-v1:0"}
    found, _ = accesses("bedrock-runtime", "Converse", profile, "us-west-2", "1")
    assert [a.resource for a in found] == [
        "arn:aws:bedrock:us-west-2:1:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
        "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-2-1b-instruct-v1:0",
    ]
