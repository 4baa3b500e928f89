"""IAM matrix: for every role, who may assume it (with conditions) and what it may do where.

Every ``*`` in an action or resource of an identity policy is a finding with the id cdk-nag's
AwsSolutions-IAM5 gives it (``Action::...`` / ``Resource::...``), and an AWS managed policy one
with the AwsSolutions-IAM4 id (``Policy::...``). Each finding carries the acknowledgment that
justifies it, looked up the way cdk-nag does (on the policy or any construct above it). The
lookup reads the templates, not the app, so it also covers resources cdk-nag's rules skip
(CDK's own custom-resource providers are plain ``CfnResource`` objects that its
``instanceof CfnRole`` tests never match).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.audit.assembly import Acknowledgment, CloudAssembly, StackArtifact
from tools.audit.refs import as_list, flatten

IDENTITY_TYPES = {"AWS::IAM::Role": "role", "AWS::IAM::User": "user", "AWS::IAM::Group": "group"}
ATTACHMENT_PROPERTY = {"role": "Roles", "user": "Users", "group": "Groups"}
WILDCARD_RULE = "AwsSolutions-IAM5"
MANAGED_POLICY_RULE = "AwsSolutions-IAM4"


@dataclass(frozen=True)
class Wildcard:
    finding: str  # e.g. "Resource::*", "Action::s3:GetObject*", "Policy::arn:..."
    rule: str  # the id an acknowledgment must name, e.g. "AwsSolutions-IAM5[Resource::*]"
    policy: str  # logical id of the resource that holds it
    acknowledgment: Acknowledgment | None


@dataclass(frozen=True)
class Trust:
    principals: tuple[str, ...]
    actions: tuple[str, ...]
    conditions: dict[str, Any]


@dataclass(frozen=True)
class Permission:
    policy: str  # logical id of the AWS::IAM::Policy, or "<role>/inline:<name>"
    sid: str | None
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # readable: cross-stack references resolved
    conditions: dict[str, Any]
    findings: tuple[str, ...] = ()  # cdk-nag IAM5 finding ids of this statement (Allow only)


@dataclass
class Principal:
    stack: str
    logical_id: str
    kind: str  # role | user | group
    construct_path: str | None
    name: str | None
    trust: list[Trust] = field(default_factory=list)
    permissions: list[Permission] = field(default_factory=list)
    managed_policies: list[str] = field(default_factory=list)
    wildcards: list[Wildcard] = field(default_factory=list)

    @property
    def unacknowledged(self) -> list[Wildcard]:
        return [w for w in self.wildcards if w.acknowledgment is None]


def _principals(value: Any) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    out: list[str] = []
    for kind, names in (value or {}).items():
        out.extend(f"{kind}: {flatten(name)}" for name in as_list(names))
    return tuple(out)


def _statements(document: Any) -> list[dict[str, Any]]:
    return [s for s in as_list((document or {}).get("Statement")) if isinstance(s, dict)]


def _findings(statement: dict[str, Any]) -> tuple[str, ...]:
    """cdk-nag's IAM5 finding ids of one statement (Allow only, as cdk-nag does). NotAction and
    NotResource grant everything else, so they count as wildcards that no id can name."""
    if statement.get("Effect", "Allow") != "Allow":
        return ()
    found: dict[str, None] = {}
    for action in map(flatten, as_list(statement.get("Action"))):
        if "*" in action:
            found[f"Action::{action}"] = None
    for action in map(flatten, as_list(statement.get("NotAction"))):
        found[f"Action::NOT {action}"] = None
    for resource in map(flatten, as_list(statement.get("Resource"))):
        if "*" in resource:
            found[f"Resource::{resource}"] = None
    for resource in map(flatten, as_list(statement.get("NotResource"))):
        found[f"Resource::NOT {resource}"] = None
    return tuple(found)


def _permissions(policy: str, document: Any, assembly: CloudAssembly | None) -> list[Permission]:
    return [
        Permission(
            policy=policy,
            sid=s.get("Sid"),
            effect=s.get("Effect", "Allow"),
            actions=tuple(flatten(a) for a in as_list(s.get("Action")))
            + tuple(f"NOT {flatten(a)}" for a in as_list(s.get("NotAction"))),
            resources=tuple(flatten(r, assembly) for r in as_list(s.get("Resource")))
            + tuple(f"NOT {flatten(r, assembly)}" for r in as_list(s.get("NotResource"))),
            conditions=s.get("Condition", {}),
            findings=_findings(s),
        )
        for s in _statements(document)
    ]


def wildcard_findings(permissions: list[Permission]) -> list[str]:
    return list(dict.fromkeys(f for p in permissions for f in p.findings))


def _attached_to(props: dict[str, Any], kind: str) -> list[str]:
    refs = as_list(props.get(ATTACHMENT_PROPERTY[kind]))
    return [r["Ref"] for r in refs if isinstance(r, dict) and isinstance(r.get("Ref"), str)]


def iam_matrix(stack: StackArtifact, assembly: CloudAssembly | None = None) -> list[Principal]:
    """Every role, user and group of the stack (``assembly`` makes cross-stack references
    readable)."""
    principals: dict[str, Principal] = {}
    for lid, res in sorted(stack.resources.items()):
        kind = IDENTITY_TYPES.get(res["Type"])
        if kind is None:
            continue
        props = res.get("Properties", {})
        name = props.get("RoleName") or props.get("UserName") or props.get("GroupName")
        p = Principal(stack.name, lid, kind, stack.path_of(lid), flatten(name) if name else None)
        for s in _statements(props.get("AssumeRolePolicyDocument")):
            p.trust.append(
                Trust(
                    _principals(s.get("Principal")),
                    tuple(as_list(s.get("Action"))),
                    s.get("Condition", {}),
                )
            )
        for inline in as_list(props.get("Policies")):
            perms = _permissions(
                f"{lid}/inline:{inline.get('PolicyName')}", inline.get("PolicyDocument"), assembly
            )
            p.permissions.extend(perms)
            p.wildcards.extend(_acknowledged(stack, lid, wildcard_findings(perms)))
        for arn in as_list(props.get("ManagedPolicyArns")):
            p.managed_policies.append(flatten(arn))
            p.wildcards.extend(
                _acknowledged(stack, lid, [f"Policy::{flatten(arn)}"], MANAGED_POLICY_RULE)
            )
        principals[lid] = p
    for lid, res in sorted(stack.resources.items()):
        if res["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        props = res.get("Properties", {})
        perms = _permissions(lid, props.get("PolicyDocument"), assembly)
        wildcards = _acknowledged(stack, lid, wildcard_findings(perms))
        holders = [
            principals[ref]
            for kind in ATTACHMENT_PROPERTY
            for ref in _attached_to(props, kind)
            if ref in principals
        ]
        if not holders:  # attached to principals outside this stack: report it on its own
            holder = Principal(
                stack.name, lid, "policy (external principals)", stack.path_of(lid), None
            )
            principals[lid] = holder
            holders = [holder]
        for holder in holders:
            holder.permissions.extend(perms)
            holder.wildcards.extend(wildcards)
    return list(principals.values())


def _acknowledged(
    stack: StackArtifact, holder: str, findings: list[str], rule: str = WILDCARD_RULE
) -> list[Wildcard]:
    return [
        Wildcard(f, f"{rule}[{f}]", holder, stack.acknowledgment_for(holder, f"{rule}[{f}]"))
        for f in findings
    ]
