"""parliament (an IAM linter that ships AWS's action, resource and condition definitions) over
every policy document in the templates: identity policies (inline, attached, managed), trust
policies, bucket / queue / topic / key policies and VPC endpoint policies, with every intrinsic
resolved to deployed names.

Each finding is either explained by one row of ``tools/audit/authz/lint_ignores.py`` (its
reason, and whether it is a false positive of the linter) or it fails the gate.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import sys
import types
from dataclasses import dataclass, replace
from typing import Any

from tools.audit.authz.deployment import Deployment
from tools.audit.authz.lint_ignores import IGNORES, Ignore

EACH_ACTION = re.compile(r"for action [\w:*-]+")
# Interface endpoint service names whose IAM prefix differs (Service Authorization Reference).
ENDPOINT_PREFIX = {"bedrock-runtime": "bedrock", "ecr.api": "ecr", "ecr.dkr": "ecr"}
DOCUMENT_PROPERTIES = ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument")


def _parliament() -> Any:
    """parliament 1.6.4 reads its bundled data through ``pkg_resources``, which setuptools no
    longer ships; the one function it uses is provided from ``importlib.resources``."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")
            shim.resource_filename = (  # type: ignore[attr-defined]
                lambda package, name: str(importlib.resources.files(package) / name)
            )
            sys.modules["pkg_resources"] = shim
    import parliament

    return parliament


@dataclass(frozen=True)
class Document:
    stack: str
    resource: str  # logical id
    type: str  # CloudFormation type of the resource holding it
    where: str  # the property (and inline policy name)
    body: dict[str, Any]


@dataclass(frozen=True)
class Finding:
    document: Document
    issue: str
    severity: str
    detail: str
    ignore: Ignore | None
    occurrences: int = 1  # parliament repeats a finding for every action a wildcard expands to

    @property
    def text(self) -> str:
        return f"{self.document.resource}:{self.document.where}:{self.detail}"


def _strings(node: Any) -> Any:
    """IAM compares condition values as text; parliament expects JSON strings."""
    if isinstance(node, dict):
        return {k: _strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strings(v) for v in node]
    if isinstance(node, bool):
        return str(node).lower()
    if isinstance(node, int | float):
        return str(node)
    return node


def _endpoint_actions(body: dict[str, Any], service_name: str) -> dict[str, Any]:
    """An interface endpoint carries only its own service's API: its policy's ``"Action": "*"``
    is linted as ``<service prefix>:*`` (AWS PrivateLink Guide, vpc-endpoints-access.html).
    Expanding it to every action of every service costs minutes and only yields findings about
    services the endpoint never carries."""
    suffix = service_name.rsplit(".", 2)[-1] if service_name.endswith((".api", ".dkr")) else ""
    name = service_name.split(".", 3)[-1]  # com.amazonaws.<region>.<name>
    prefix = ENDPOINT_PREFIX.get(name, name.removesuffix(f".{suffix}") if suffix else name)
    statements = []
    for statement in body.get("Statement", []):
        if statement.get("Action") in ("*", ["*"]):
            statement = {**statement, "Action": f"{prefix}:*"}
        statements.append(statement)
    return {**body, "Statement": statements}


def documents(deployment: Deployment) -> list[Document]:
    out = []
    for r in deployment.resources():
        for prop in DOCUMENT_PROPERTIES:
            if prop in r.properties:
                body = deployment.document(r.properties[prop], r.stack)
                if r.type == "AWS::EC2::VPCEndpoint":
                    service = str(deployment.resolve(r.properties["ServiceName"], r.stack))
                    body = _endpoint_actions(body, service)
                out.append(Document(r.stack, r.logical_id, r.type, prop, _strings(body)))
        policies = r.properties.get("Policies")
        if r.type == "AWS::IAM::Role" and isinstance(policies, list):
            for inline in policies:
                body = deployment.document(inline["PolicyDocument"], r.stack)
                where = f"Policies/{inline.get('PolicyName')}"
                out.append(Document(r.stack, r.logical_id, r.type, where, _strings(body)))
    return out


def _ignore_for(document: Document, issue: str, detail: str) -> Ignore | None:
    text = f"{document.resource}:{document.where}:{detail}"
    for row in IGNORES:
        if row.issue == issue and document.type in row.types and re.search(row.match, text):
            return row
    return None


def lint(deployment: Deployment) -> tuple[list[Document], list[Finding]]:
    parliament = _parliament()
    docs = documents(deployment)
    grouped: dict[tuple[int, str, str], Finding] = {}
    for n, doc in enumerate(docs):
        policy = parliament.analyze_policy_string(
            json.dumps(doc.body), include_community_auditors=True
        )
        for f in policy.findings:
            found = f.detail or {k: v for k, v in f.location.items() if k != "filepath"}
            if isinstance(found, dict) and isinstance(found.get("actions"), list | set):
                found = {**found, "actions": sorted(found["actions"])}  # parliament uses sets
            detail = json.dumps(found, sort_keys=True, default=str)[:400] if found else ""
            detail = EACH_ACTION.sub("for action <each>", detail)
            key = (n, f.issue, detail)
            if key in grouped:
                grouped[key] = replace(grouped[key], occurrences=grouped[key].occurrences + 1)
                continue
            severity = str(getattr(f, "severity", "") or "")
            ignore = _ignore_for(doc, f.issue, detail)
            grouped[key] = Finding(doc, f.issue, severity, detail, ignore)
    return docs, list(grouped.values())


def unexplained(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.ignore is None]


def unused_ignores(findings: list[Finding]) -> list[Ignore]:
    used = {id(f.ignore) for f in findings if f.ignore is not None}
    return [row for row in IGNORES if id(row) not in used]
