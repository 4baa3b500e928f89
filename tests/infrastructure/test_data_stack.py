"""Security properties of the stateful stack, read from the synthesized template."""

from __future__ import annotations

from typing import Any

from stacks.constructs.network import INTERFACE_ENDPOINTS
from tests.support.assembly import Assembly


def _statements(policy_resource: dict[str, Any]) -> list[dict[str, Any]]:
    doc = policy_resource["Properties"].get("PolicyDocument") or policy_resource["Properties"].get(
        "KeyPolicy"
    )
    return list(doc["Statement"])


def _ref_target(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def test_every_bucket_is_encrypted_with_a_project_cmk(dev_assembly: Assembly) -> None:
    buckets = dev_assembly.resources("-data", "AWS::S3::Bucket")
    keys = dev_assembly.resources("-data", "AWS::KMS::Key")
    assert len(buckets) == 3
    for name, bucket in buckets.items():
        rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        default = rule["ServerSideEncryptionByDefault"]
        assert default["SSEAlgorithm"] == "aws:kms", name
        assert _ref_target(default["KMSMasterKeyID"]) in keys, name
        assert rule["BucketKeyEnabled"] is True, name


def test_every_bucket_is_private_versioned_retained_and_expires_old_versions(
    dev_assembly: Assembly,
) -> None:
    for name, bucket in dev_assembly.resources("-data", "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert bucket["DeletionPolicy"] == "Retain", name
        rules = props["LifecycleConfiguration"]["Rules"]
        assert any("NoncurrentVersionExpiration" in r for r in rules), name


def test_data_buckets_log_access_to_the_log_bucket(dev_assembly: Assembly) -> None:
    buckets = dev_assembly.resources("-data", "AWS::S3::Bucket")
    log_buckets = {name for name in buckets if "AccessLogs" in name}
    assert len(log_buckets) == 1
    for name, bucket in buckets.items():
        if name in log_buckets:
            continue
        target = bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"]
        assert _ref_target(target) in log_buckets, name


def test_every_bucket_policy_denies_plain_http(dev_assembly: Assembly) -> None:
    policies = dev_assembly.resources("-data", "AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for name, policy in policies.items():
        assert any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in _statements(policy)
        ), name


def test_data_access_outside_the_vpc_endpoint_is_denied_except_admins(
    dev_assembly: Assembly,
) -> None:
    endpoints = dev_assembly.resources("-data", "AWS::EC2::VPCEndpoint")
    s3_gateways = [
        n for n, e in endpoints.items() if e["Properties"].get("VpcEndpointType") == "Gateway"
    ]
    assert len(s3_gateways) == 1
    denying = 0
    for policy in dev_assembly.resources("-data", "AWS::S3::BucketPolicy").values():
        for s in _statements(policy):
            cond = s.get("Condition", {})
            if s["Effect"] == "Deny" and "aws:SourceVpce" in cond.get("StringNotEquals", {}):
                assert _ref_target(cond["StringNotEquals"]["aws:SourceVpce"]) == s3_gateways[0]
                exempt = cond["ArnNotLike"]["aws:PrincipalArn"]
                assert any("cfn-exec-role" in str(p) for p in exempt), (
                    "deployment must stay possible"
                )
                assert "s3:GetObject*" in s["Action"] and "s3:PutObject*" in s["Action"]
                denying += 1
    assert denying == 2  # training data and artifacts; the log bucket receives S3 log delivery


def test_keys_rotate_and_are_retained(dev_assembly: Assembly) -> None:
    keys = dev_assembly.resources("-data", "AWS::KMS::Key")
    assert len(keys) == 2
    for name, key in keys.items():
        assert key["Properties"]["EnableKeyRotation"] is True, name
        assert key["DeletionPolicy"] == "Retain", name


def test_key_policies_admit_crypto_only_through_services_or_bound_principals(
    dev_assembly: Assembly,
) -> None:
    crypto = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:*"}
    for name, key in dev_assembly.resources("-data", "AWS::KMS::Key").items():
        for s in _statements(key):
            actions = set(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            if not actions & crypto:
                continue
            cond = s.get("Condition", {})
            principal = s["Principal"]
            if "Service" in principal:
                assert cond, f"{name}: service statement {s.get('Sid')} has no condition"
            else:
                via = cond["StringEquals"]["kms:ViaService"]
                assert all(str(v).endswith(".amazonaws.com") or "Fn::Join" in v for v in via)
                assert "aws:PrincipalArn" in cond["ArnLike"], name
            assert "kms:*" not in actions, f"{name}: {s.get('Sid')} grants kms:*"


def test_no_route_to_the_internet(dev_assembly: Assembly) -> None:
    resources = dev_assembly.resources("-data")
    types = {r["Type"] for r in resources.values()}
    assert not types & {
        "AWS::EC2::InternetGateway",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
    }
    for name, route in dev_assembly.resources("-data", "AWS::EC2::Route").items():
        assert "GatewayId" not in route["Properties"], name
    for name, subnet in dev_assembly.resources("-data", "AWS::EC2::Subnet").items():
        assert subnet["Properties"].get("MapPublicIpOnLaunch") is False, name


def test_no_security_group_rule_opens_to_the_world(dev_assembly: Assembly) -> None:
    for stack in dev_assembly.templates.values():
        for name, res in stack["Resources"].items():
            props = res.get("Properties", {})
            rules = [props] if res["Type"].startswith("AWS::EC2::SecurityGroupI") else []
            rules += (
                props.get("SecurityGroupIngress", [])
                if res["Type"] == "AWS::EC2::SecurityGroup"
                else []
            )
            for rule in rules:
                assert rule.get("CidrIp") not in ("0.0.0.0/0",), name
                assert rule.get("CidrIpv6") not in ("::/0",), name


def test_every_endpoint_in_the_table_exists_with_private_dns_and_https_from_vpc_only(
    dev_assembly: Assembly,
) -> None:
    endpoints = dev_assembly.resources("-data", "AWS::EC2::VPCEndpoint")
    interface = [e for e in endpoints.values() if e["Properties"]["VpcEndpointType"] == "Interface"]
    names = {str(e["Properties"]["ServiceName"]) for e in interface}
    for spec in INTERFACE_ENDPOINTS:
        assert any(f".{spec.service}" in n for n in names), spec.service
        assert spec.why
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in interface)
    sgs = dev_assembly.resources("-data", "AWS::EC2::SecurityGroup")
    endpoint_sgs = {
        _ref_target(sg_ref) for e in interface for sg_ref in e["Properties"]["SecurityGroupIds"]
    }
    assert len(endpoint_sgs) == 1
    (sg,) = (sgs[n] for n in endpoint_sgs if n)
    config = dev_assembly.pipeline.config
    assert sg["Properties"]["SecurityGroupIngress"] == [
        {"CidrIp": config.vpc_cidr, "Description": "HTTPS from the VPC", "FromPort": 443,
         "IpProtocol": "tcp", "ToPort": 443}
    ]  # fmt: skip


def test_s3_gateway_policy_admits_only_project_buckets_and_ecr_layers(
    dev_assembly: Assembly,
) -> None:
    endpoints = dev_assembly.resources("-data", "AWS::EC2::VPCEndpoint")
    (gateway,) = [e for e in endpoints.values() if e["Properties"]["VpcEndpointType"] == "Gateway"]
    buckets = set(dev_assembly.resources("-data", "AWS::S3::Bucket"))
    for s in gateway["Properties"]["PolicyDocument"]["Statement"]:
        assert s["Effect"] == "Allow"
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        for r in resources:
            text = str(r)
            assert any(b in text for b in buckets) or "starport-layer-bucket" in text, text


def test_flow_logs_go_to_an_encrypted_log_group_with_retention(dev_assembly: Assembly) -> None:
    (flow_log,) = dev_assembly.resources("-data", "AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    groups = dev_assembly.resources("-data", "AWS::Logs::LogGroup")
    group = groups[_ref_target(flow_log["Properties"]["LogGroupName"]) or ""]
    assert "KmsKeyId" in group["Properties"]
    assert group["Properties"]["RetentionInDays"] == dev_assembly.pipeline.config.log_retention_days


def test_default_security_group_is_closed(dev_assembly: Assembly) -> None:
    restrict = [
        r for r in dev_assembly.resources("-data").values()
        if r["Type"] == "Custom::VpcRestrictDefaultSG"
    ]  # fmt: skip
    assert len(restrict) == 1


def test_data_stack_is_termination_protected(dev_assembly: Assembly) -> None:
    assert dev_assembly.pipeline.data.termination_protection is True
