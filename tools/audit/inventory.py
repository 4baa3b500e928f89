"""What the templates deploy: resources by type, encryption at rest, network exposure, endpoints.

Generic over any template: each check is keyed by CloudFormation resource type, so resources of
stacks written later are covered without changes here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.audit.assembly import CloudAssembly, StackArtifact
from tools.audit.refs import as_list, flatten, target

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}


@dataclass(frozen=True)
class Encryption:
    stack: str
    resource: str
    type: str
    store: str  # what is stored, e.g. "bucket", "log group"
    key: str | None  # alias or logical id of the CMK; None when no customer managed key
    rotation: str  # "365 days", "off", or why it does not apply
    detail: str

    @property
    def customer_managed(self) -> bool:
        return self.key is not None and not self.key.startswith("alias/aws/")

    @property
    def plaintext(self) -> bool:
        """Stored without any encryption (not merely with an AWS owned or managed key)."""
        return self.key is None and self.detail.startswith(PLAINTEXT)


@dataclass(frozen=True)
class Exposure:
    stack: str
    resource: str
    type: str
    finding: str
    # Why a reachable endpoint is acceptable (only IAM-authenticated APIs of allowed accounts).
    accepted_because: str | None = None


@dataclass(frozen=True)
class Endpoint:
    stack: str
    resource: str
    service: str
    endpoint_type: str
    private_dns: bool
    security_groups: tuple[str, ...]
    policy: tuple[dict[str, Any], ...] | None  # None: AWS default policy (full access)


def resources_by_type(stack: StackArtifact) -> dict[str, int]:
    return dict(sorted(Counter(r["Type"] for r in stack.resources.values()).items()))


# --- encryption at rest ---------------------------------------------------------------------
# type -> (what it stores, properties -> (key reference or None, detail when there is no CMK)).
# Without a CMK most services still encrypt with a key of their own; the detail says which, and
# starts with PLAINTEXT where nothing is encrypted.
PLAINTEXT = "NOT ENCRYPTED"
KeyFinder = Callable[[dict[str, Any]], tuple[Any, str]]


def _bucket_key(props: dict[str, Any]) -> tuple[Any, str]:
    rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    default = rules[0].get("ServerSideEncryptionByDefault", {}) if rules else {}
    algorithm = default.get("SSEAlgorithm", "AES256 (S3 default)")
    bucket_key = " with bucket key" if rules and rules[0].get("BucketKeyEnabled") else ""
    return default.get("KMSMasterKeyID"), f"{algorithm}{bucket_key}"


def _state_machine_key(props: dict[str, Any]) -> tuple[Any, str]:
    config = props.get("EncryptionConfiguration", {})
    return config.get("KmsKeyId"), config.get("Type", "AWS_OWNED_KEY") + " (Step Functions)"


def _table_key(props: dict[str, Any]) -> tuple[Any, str]:
    sse = props.get("SSESpecification", {})
    return sse.get("KMSMasterKeyId"), "AWS owned key" if not sse.get("SSEEnabled") else "KMS"


def _simple(prop: str, default: str) -> KeyFinder:
    return lambda props: (props.get(prop), default)


ENCRYPTED_STORES: dict[str, tuple[str, KeyFinder]] = {
    "AWS::S3::Bucket": ("bucket", _bucket_key),
    "AWS::Logs::LogGroup": ("log group", _simple("KmsKeyId", "CloudWatch Logs service key")),
    "AWS::SQS::Queue": ("queue", _simple("KmsMasterKeyId", "SSE-SQS (SQS owned key)")),
    "AWS::SNS::Topic": ("topic", _simple("KmsMasterKeyId", PLAINTEXT)),
    # Only functions with environment variables store anything at rest (see `encryption`).
    "AWS::Lambda::Function": ("function environment", _simple("KmsKeyArn", "Lambda service key")),
    "AWS::StepFunctions::StateMachine": ("state machine data", _state_machine_key),
    "AWS::StepFunctions::Activity": ("activity data", _state_machine_key),
    "AWS::DynamoDB::Table": ("table", _table_key),
    "AWS::ECR::Repository": (
        "image repository",
        lambda p: (p.get("EncryptionConfiguration", {}).get("KmsKey"), "AES256"),
    ),
    "AWS::Events::EventBus": ("event bus", _simple("KmsKeyIdentifier", "AWS owned key")),
    "AWS::SecretsManager::Secret": ("secret", _simple("KmsKeyId", "aws/secretsmanager key")),
    "AWS::EFS::FileSystem": (
        "file system",
        lambda p: (
            p.get("KmsKeyId"),
            "aws/elasticfilesystem key" if p.get("Encrypted") else PLAINTEXT,
        ),
    ),
    "AWS::SSM::Parameter": ("parameter", lambda p: (None, f"{PLAINTEXT} (String parameter)")),
}


def _key_label(assembly: CloudAssembly, stack: str, key_id: str) -> str:
    for alias in assembly.stacks[stack].resources.values():
        props = alias.get("Properties", {})
        if alias["Type"] == "AWS::KMS::Alias" and target(
            props.get("TargetKeyId"), stack, assembly
        ) == (stack, key_id):
            return f"{props.get('AliasName')} ({key_id})"
    return key_id


def encryption(stack: StackArtifact, assembly: CloudAssembly) -> list[Encryption]:
    found: list[Encryption] = []
    for lid, res in sorted(stack.resources.items()):
        rule = ENCRYPTED_STORES.get(res["Type"])
        if rule is None:
            continue
        store, finder = rule
        if res["Type"] == "AWS::Lambda::Function" and not res.get("Properties", {}).get(
            "Environment"
        ):
            continue
        key_ref, detail = finder(res.get("Properties", {}))
        key, rotation = None, "n/a (no customer managed key)"
        if key_ref is not None:
            points_at = target(key_ref, stack.name, assembly)
            key_res = (
                assembly.stacks[points_at[0]].resources.get(points_at[1]) if points_at else None
            )
            if points_at and key_res and key_res["Type"] == "AWS::KMS::Key":
                key = _key_label(assembly, *points_at)
                kprops = key_res.get("Properties", {})
                days = kprops.get("RotationPeriodInDays", 365)
                rotation = f"every {days} days" if kprops.get("EnableKeyRotation") else "OFF"
                detail = f"customer managed key in {points_at[0]}"
            else:
                key, rotation = flatten(key_ref), "unknown (key outside this app)"
                detail = "key referenced by ARN/alias"
        found.append(Encryption(stack.name, lid, res["Type"], store, key, rotation, detail))
    for lid, res in sorted(stack.resources.items()):
        if res["Type"] == "AWS::KMS::Key":
            props = res.get("Properties", {})
            days = props.get("RotationPeriodInDays", 365)
            rotation = f"every {days} days" if props.get("EnableKeyRotation") else "OFF"
            label = _key_label(assembly, stack.name, lid)
            found.append(
                Encryption(stack.name, lid, res["Type"], "KMS key", label, rotation, "the key")
            )
    return found


# --- network exposure -----------------------------------------------------------------------
ALWAYS_EXPOSED = {
    "AWS::EC2::InternetGateway": "internet gateway",
    "AWS::EC2::EgressOnlyInternetGateway": "egress-only internet gateway",
    "AWS::EC2::NatGateway": "NAT gateway",
    "AWS::EC2::EIP": "elastic IP address",
    "AWS::EC2::VPCPeeringConnection": "VPC peering connection",
    "AWS::EC2::TransitGatewayAttachment": "transit gateway attachment",
    "AWS::ApiGatewayV2::Api": "HTTP/WebSocket API (public endpoint)",
}


def _open_rules(rules: Any) -> list[str]:
    out = []
    for rule in as_list(rules):
        cidr = rule.get("CidrIp") or rule.get("CidrIpv6")
        if cidr in OPEN_CIDRS:
            out.append(f"{cidr} port {rule.get('FromPort', 'all')}-{rule.get('ToPort', 'all')}")
    return out


def _public_allows(policy: Any) -> list[str]:
    """Allow statements for any principal with no condition: readable by anyone."""
    out = []
    for statement in as_list((policy or {}).get("Statement")):
        principal = statement.get("Principal")
        anyone = principal == "*" or (
            isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))
        )
        if statement.get("Effect") == "Allow" and anyone and not statement.get("Condition"):
            out.append(f"Allow {flatten(statement.get('Action'))} to any principal, no condition")
    return out


POLICY_PROPERTIES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::ApiGateway::RestApi": "Policy",
}


def _api_detail(stack: StackArtifact, api_id: str) -> tuple[str, str | None]:
    """How a non-private REST API is protected, and whether that makes it acceptable: every
    method signed with SigV4 (AWS_IAM) and a resource policy naming who may call."""
    methods = [
        r.get("Properties", {})
        for r in stack.resources.values()
        if r["Type"] == "AWS::ApiGateway::Method"
        and r.get("Properties", {}).get("RestApiId") == {"Ref": api_id}
        and r.get("Properties", {}).get("HttpMethod") != "OPTIONS"
    ]
    auth = sorted({m.get("AuthorizationType", "NONE") for m in methods})
    waf = any(r["Type"] == "AWS::WAFv2::WebACLAssociation" for r in stack.resources.values())
    has_policy = bool(stack.resources[api_id].get("Properties", {}).get("Policy"))
    detail = (
        f"methods authorize with {', '.join(auth) or 'none'}; "
        f"{'a' if has_policy else 'no'} resource policy; WAF {'on' if waf else 'off'}"
    )
    accepted = (
        "reachable only with SigV4 credentials that the resource policy admits"
        if auth == ["AWS_IAM"] and has_policy
        else None
    )
    return detail, accepted


def exposure(stack: StackArtifact) -> list[Exposure]:
    found: list[Exposure] = []

    def add(lid: str, res: dict[str, Any], finding: str, accepted: str | None = None) -> None:
        found.append(Exposure(stack.name, lid, res["Type"], finding, accepted))

    for lid, res in sorted(stack.resources.items()):
        type_, props = res["Type"], res.get("Properties", {})
        if type_ in ALWAYS_EXPOSED:
            add(lid, res, ALWAYS_EXPOSED[type_])
        if type_ == "AWS::EC2::Route" and (
            props.get("DestinationCidrBlock") in OPEN_CIDRS
            or props.get("DestinationIpv6CidrBlock") in OPEN_CIDRS
        ):
            add(lid, res, "default route")
        if type_ == "AWS::EC2::Subnet" and props.get("MapPublicIpOnLaunch"):
            add(lid, res, "subnet assigns public IPs")
        if type_ == "AWS::EC2::SecurityGroup":
            for rule in _open_rules(props.get("SecurityGroupIngress")):
                add(lid, res, f"ingress from {rule}")
            for rule in _open_rules(props.get("SecurityGroupEgress")):
                add(lid, res, f"egress to {rule}")
        if type_ in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            for rule in _open_rules(props):
                add(lid, res, f"{type_.rsplit('Group', 1)[1].lower()} rule {rule}")
        if type_ == "AWS::S3::Bucket":
            block = props.get("PublicAccessBlockConfiguration", {})
            flags = (
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            )
            if not all(block.get(flag) for flag in flags):
                add(lid, res, "public access block not fully on")
        if type_ == "AWS::ApiGateway::RestApi":
            types = as_list(props.get("EndpointConfiguration", {}).get("Types")) or ["EDGE"]
            if "PRIVATE" not in types:
                detail, accepted = _api_detail(stack, lid)
                add(lid, res, f"{'/'.join(types)} API endpoint: {detail}", accepted)
        if type_ == "AWS::Lambda::Url" and props.get("AuthType") == "NONE":
            add(lid, res, "function URL without authentication")
        if type_ == "AWS::Lambda::Permission" and props.get("Principal") == "*":
            add(lid, res, "function invocable by any principal")
        if props.get("PubliclyAccessible") is True:
            add(lid, res, "PubliclyAccessible")
        if type_ in POLICY_PROPERTIES:
            for finding in _public_allows(props.get(POLICY_PROPERTIES[type_])):
                add(lid, res, finding)
    return found


# --- VPC endpoints --------------------------------------------------------------------------
def endpoints(stack: StackArtifact) -> list[Endpoint]:
    found = []
    for lid, res in sorted(stack.resources.items()):
        if res["Type"] != "AWS::EC2::VPCEndpoint":
            continue
        props = res.get("Properties", {})
        service = flatten(props.get("ServiceName"))
        # com.amazonaws.<region>.<service> -> <service>
        short = service.split(".", 3)[3] if service.startswith("com.amazonaws.") else service
        policy = props.get("PolicyDocument")
        found.append(
            Endpoint(
                stack.name,
                lid,
                short,
                props.get("VpcEndpointType", "Gateway"),
                bool(props.get("PrivateDnsEnabled")),
                tuple(flatten(sg) for sg in as_list(props.get("SecurityGroupIds"))),
                tuple(as_list(policy.get("Statement"))) if policy else None,
            )
        )
    return found
