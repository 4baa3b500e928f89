"""The template analysis behind the report and the gate, on small hand-written templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.audit.assembly import CloudAssembly, StackArtifact
from tools.audit.iam import iam_matrix
from tools.audit.inventory import encryption, exposure
from tools.audit.refs import flatten
from tools.audit.report import StackReport, StageReport, gate_failures
from tools.audit.security_doc import BEGIN, END, security_section, update_section
from tools.audit.tools import NO_REASON, ToolFinding

ROLE: dict[str, Any] = {
    "Type": "AWS::IAM::Role",
    "Properties": {
        "AssumeRolePolicyDocument": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": "bedrock.amazonaws.com"},
                    "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
                }
            ]
        }
    },
}


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyDocument": {"Statement": list(statements)},
            "Roles": [{"Ref": "Role"}],
        },
    }


def _stack(
    resources: dict[str, Any], acks: dict[str, dict[str, str]] | None = None
) -> StackArtifact:
    stack = StackArtifact("s", Path("s.template.json"), {"Resources": resources})
    stack.logical_ids = {f"/s/{lid}/Resource": lid for lid in resources}
    for path, rules in (acks or {}).items():
        stack.acknowledged[path] = {rule: (None, reason) for rule, reason in rules.items()}
    return stack


def _gate(stack: StackArtifact, **tools: list[ToolFinding]) -> list[str]:
    assembly = CloudAssembly(Path("."), {"s": stack}, None)
    report = StackReport(
        "s",
        "s.template.json",
        {},
        encryption(stack, assembly),
        exposure(stack),
        [],
        iam_matrix(stack),
    )
    stage = StageReport("dev", "us-east-1", ".", [report], list(stack.acknowledgments()), **tools)
    return [f"{f.kind}:{f.what}" for f in gate_failures([stage])]


@pytest.mark.parametrize(
    ("value", "flat"),
    [
        ("*", "*"),
        ({"Fn::GetAtt": ["Logs", "Arn"]}, "<Logs.Arn>"),
        ({"Fn::Join": ["", [{"Fn::GetAtt": ["Logs", "Arn"]}, ":*"]]}, "<Logs.Arn>:*"),
        ({"Fn::Sub": "arn:${AWS::Partition}:s3:::b/*"}, "arn:<AWS::Partition>:s3:::b/*"),
        ({"Ref": "Bucket"}, "<Bucket>"),
    ],
)
def test_references_flatten_as_cdk_nag_names_findings(value: Any, flat: str) -> None:
    assert flatten(value) == flat


def test_a_new_wildcard_without_acknowledgment_fails_the_gate() -> None:
    stack = _stack(
        {
            "Role": ROLE,
            "Policy": _policy(
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject*",
                    "Resource": {"Fn::GetAtt": ["B", "Arn"]},
                },
                {"Effect": "Deny", "Action": "*", "Resource": "*"},  # denies are never findings
            ),
        }
    )
    assert _gate(stack) == [
        "wildcard:AwsSolutions-IAM5[Action::s3:GetObject*] on role Role has no acknowledgment"
    ]


def test_an_acknowledgment_above_the_policy_justifies_its_wildcard() -> None:
    reason = "Reads objects of the one bucket, whose names are chosen per run at run time."
    stack = _stack(
        {
            "Role": ROLE,
            "Policy": _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        },
        acks={"/s/Policy": {"AwsSolutions-IAM5[Resource::*]": reason}},
    )
    (role,) = iam_matrix(stack)
    assert [(w.finding, w.acknowledgment and w.acknowledgment.reason) for w in role.wildcards] == [
        ("Resource::*", reason)
    ]
    assert role.trust[0].conditions == {"StringEquals": {"aws:SourceAccount": "111111111111"}}
    assert _gate(stack) == []


def test_an_acknowledgment_of_another_finding_does_not_count() -> None:
    stack = _stack(
        {"Role": ROLE, "Policy": _policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})},
        acks={"/s/Policy": {"AwsSolutions-IAM5[Resource::*]": "x" * 50}},
    )
    assert _gate(stack) == [
        "wildcard:AwsSolutions-IAM5[Action::s3:*] on role Role has no acknowledgment"
    ]


def test_not_action_counts_as_a_wildcard() -> None:
    stack = _stack(
        {
            "Role": ROLE,
            "Policy": _policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:x"}),
        }
    )
    assert any("Action::NOT iam:*" in f for f in _gate(stack))


def test_managed_policy_needs_an_acknowledgment() -> None:
    role = {
        **ROLE,
        "Properties": {
            **ROLE["Properties"],
            "ManagedPolicyArns": ["arn:aws:iam::aws:policy/Admin"],
        },
    }
    assert _gate(_stack({"Role": role})) == [
        "wildcard:AwsSolutions-IAM4[Policy::arn:aws:iam::aws:policy/Admin] on role Role has no "
        "acknowledgment"
    ]


def test_unencrypted_store_and_unrotated_key_fail_the_gate() -> None:
    stack = _stack(
        {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": False}},
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        }
    )
    failures = _gate(stack)
    assert len(failures) == 3, failures  # the key, the log group on it, and the topic
    assert any(f.startswith("encryption:topic: NOT ENCRYPTED") for f in failures)


def test_a_service_owned_key_is_reported_but_not_gated() -> None:
    stack = _stack(
        {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}}}
    )
    (queue,) = encryption(stack, CloudAssembly(Path("."), {"s": stack}, None))
    assert (queue.customer_managed, queue.plaintext) == (False, False)
    assert _gate(stack) == []


@pytest.mark.parametrize(
    "reference",
    [
        {"Fn::ImportValue": "data:Key"},
        {"Fn::GetStackOutput": {"StackName": "data", "Region": "us-east-1", "OutputName": "K"}},
    ],
)
def test_a_key_of_another_stack_is_followed(reference: dict[str, Any]) -> None:
    data = StackArtifact(
        "data",
        Path("data.template.json"),
        {
            "Resources": {
                "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}}
            },
            "Outputs": {
                "K": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}, "Export": {"Name": "data:Key"}}
            },
        },
    )
    flow = _stack(
        {
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"KmsMasterKeyId": reference},
            }
        }
    )
    assembly = CloudAssembly(Path("."), {"data": data, "s": flow}, None)
    (queue,) = encryption(flow, assembly)
    assert (queue.key, queue.rotation, queue.customer_managed) == ("Key", "every 365 days", True)


def test_open_security_group_rule_and_public_api_are_exposures() -> None:
    stack = _stack(
        {
            "Sg": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "SecurityGroupIngress": [
                        {"CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443}
                    ]
                },
            },
            "Api": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {"EndpointConfiguration": {"Types": ["REGIONAL"]}},
            },
            "Get": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "HttpMethod": "GET",
                    "AuthorizationType": "NONE",
                },
            },
        }
    )
    found = {(x.resource, x.accepted_because) for x in exposure(stack)}
    assert found == {("Sg", None), ("Api", None)}


def test_an_iam_authorized_api_with_a_resource_policy_is_accepted() -> None:
    stack = _stack(
        {
            "Api": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {
                    "EndpointConfiguration": {"Types": ["REGIONAL"]},
                    "Policy": {"Statement": []},
                },
            },
            "Post": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "HttpMethod": "POST",
                    "AuthorizationType": "AWS_IAM",
                },
            },
        }
    )
    (api,) = exposure(stack)
    assert api.accepted_because is not None
    assert _gate(stack) == []


@pytest.mark.parametrize(
    ("finding", "blocking"),
    [
        (ToolFinding("cfn-lint", "t", "R", "E3002", "Error", "m"), True),
        (ToolFinding("cfn-lint", "t", "R", "W3005", "Warning", "m"), False),
        (ToolFinding("checkov", "t", "R", "CKV_AWS_18", "FAILED", "m"), True),
        (ToolFinding("checkov", "t", "R", "CKV_AWS_18", "SKIPPED", "m", NO_REASON), True),
        (ToolFinding("checkov", "t", "R", "CKV_AWS_18", "SKIPPED", "m", "a reason"), False),
    ],
)
def test_what_blocks(finding: ToolFinding, blocking: bool) -> None:
    assert finding.blocking is blocking


def test_docs_update_touches_only_the_inside_of_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "security.md"
    readme.write_text(f"# T\n\n{BEGIN}\nold\n{END}\n\n<!-- BEGIN api -->\nx\n<!-- END api -->\n")
    assert update_section(readme, "new\nlines\n")
    assert security_section(readme.read_text()) == "new\nlines\n"
    assert readme.read_text().endswith(f"{END}\n\n<!-- BEGIN api -->\nx\n<!-- END api -->\n")
    assert not update_section(readme, "new\nlines\n")
