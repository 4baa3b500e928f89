"""Reads the policies of a synthesized stage the way IAM evaluates them, for template tests.

A request (action, resource, principal, request context) is matched against policy statements
as the IAM policy evaluation logic describes it (IAM User Guide, "Policy evaluation logic"): an
explicit Deny wins, otherwise some Allow must match; a statement matches when its action,
resource, principal and every condition match. Conditions: the string, ARN, numeric and Bool
operators, their ``IfExists`` forms and the ``ForAllValues:`` / ``ForAnyValue:`` set prefixes
("IAM JSON policy elements: Condition operators"). References are flattened to ``<LogicalId>`` /
``<LogicalId.Attr>`` text; CDK's cross-stack ``Fn::GetStackOutput`` is followed to the producing
stack, so a key ARN reads the same in both stacks.

This is a test reader, not a full evaluator: no NotAction/NotResource/NotPrincipal (the
templates use none; ``identity_statements`` asserts it), no policy variables, no SCPs or
session policies.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacks.cfn_refs import flatten_cfn_reference
from tests.support.assembly import Assembly

Context = Mapping[str, str | Sequence[str]]


def flat(value: Any, assembly: Assembly) -> str:
    """A template value as text, cross-stack outputs followed to their producer."""

    def read_output(ref: dict[str, Any]) -> str | None:
        producer = assembly.templates.get(str(ref.get("StackName")))
        output = producer.get("Outputs", {}).get(ref.get("OutputName")) if producer else None
        return None if output is None else flat(output.get("Value"), assembly)

    return flatten_cfn_reference(value, read_output)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    principal: str  # a role ARN, or "service:<name>.amazonaws.com"
    context: Context = field(default_factory=dict)


def _like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _action_matches(patterns: Any, action: str) -> bool:
    return any(_like(p.lower(), action.lower()) for p in _list(patterns))


def _principal_matches(principal: Any, request: Request, assembly: Assembly) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if request.principal.startswith("service:"):
        service = request.principal.removeprefix("service:")
        return service in [flat(s, assembly) for s in _list(principal.get("Service", []))]
    for aws in _list(principal.get("AWS", [])):
        text = flat(aws, assembly)
        if text == "*" or _like(text, request.principal):
            return True
        # An account principal delegates to the account's identity policies.
        account = text.removesuffix(":root").rsplit(":", 1)[-1]
        if text.endswith(":root") and f":iam::{account}:" in request.principal:
            return True
    return False


def _string_test(operator: str) -> Any:
    base = operator.removesuffix("IfExists").split(":")[-1]
    if base == "StringEquals":
        return lambda p, v: p == v
    # ArnEquals and ArnLike behave alike: both match wildcards in each ARN component.
    if base in ("StringLike", "ArnLike", "ArnEquals"):
        return _like
    if base == "StringEqualsIgnoreCase":
        return lambda p, v: p.lower() == v.lower()
    if base == "Bool":
        return lambda p, v: p.lower() == v.lower()
    numeric = {
        "NumericEquals": lambda p, v: float(v) == float(p),
        "NumericLessThan": lambda p, v: float(v) < float(p),
        "NumericLessThanEquals": lambda p, v: float(v) <= float(p),
        "NumericGreaterThan": lambda p, v: float(v) > float(p),
        "NumericGreaterThanEquals": lambda p, v: float(v) >= float(p),
    }
    if base in numeric:
        return numeric[base]
    raise NotImplementedError(f"condition operator {operator}")


def _condition_matches(
    operator: str, key: str, expected: Any, request: Request, assembly: Assembly
) -> bool:
    negated = "Not" in operator.split(":")[-1]
    positive_operator = operator.replace("Not", "", 1) if negated else operator
    test = _string_test(positive_operator)
    patterns = [flat(e, assembly) for e in _list(expected)]
    present = next((k for k in request.context if k.lower() == key.lower()), None)
    if present is None:
        # A missing key: IfExists and negated operators match, the others do not.
        return operator.endswith("IfExists") or negated
    values = [str(v) for v in _list(request.context[present])]
    any_match = [any(test(p, v) for p in patterns) for v in values]
    if operator.startswith("ForAllValues:"):
        return all(any_match) if not negated else not any(any_match)
    if negated:
        return not any(any_match)
    return any(any_match)


def statement_matches(statement: Mapping[str, Any], request: Request, assembly: Assembly) -> bool:
    if not _action_matches(statement.get("Action", []), request.action):
        return False
    resources = [flat(r, assembly) for r in _list(statement.get("Resource", "*"))]
    if not any(_like(r, request.resource) for r in resources):
        return False
    if "Principal" in statement and not _principal_matches(
        statement["Principal"], request, assembly
    ):
        return False
    for operator, block in statement.get("Condition", {}).items():
        for key, expected in block.items():
            if not _condition_matches(operator, key, expected, request, assembly):
                return False
    return True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allow_sids: tuple[str, ...]
    deny_sids: tuple[str, ...]


def decide(
    statements: Iterable[Mapping[str, Any]], request: Request, assembly: Assembly
) -> Decision:
    allow: list[str] = []
    deny: list[str] = []
    for s in statements:
        if statement_matches(s, request, assembly):
            (deny if s["Effect"] == "Deny" else allow).append(str(s.get("Sid", "?")))
    return Decision(bool(allow) and not deny, tuple(allow), tuple(deny))


def _document_statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = [dict(s) for s in _list(document.get("Statement", []))]
    for s in statements:
        unsupported = {"NotAction", "NotResource", "NotPrincipal"} & set(s)
        assert not unsupported, f"statement {s.get('Sid')} uses {unsupported}"
    return statements


def identity_statements(
    assembly: Assembly, stack_suffix: str, role_id: str
) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the role with logical id ``role_id``."""
    found: list[dict[str, Any]] = []
    for resource in assembly.resources(stack_suffix).values():
        props = resource.get("Properties", {})
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        if any(r == {"Ref": role_id} for r in props.get("Roles", [])):
            found += _document_statements(props["PolicyDocument"])
    role = assembly.resources(stack_suffix)[role_id]
    for inline in role["Properties"].get("Policies", []):
        found += _document_statements(inline["PolicyDocument"])
    return found


def role_id(assembly: Assembly, stack_suffix: str, prefix: str) -> str:
    roles = [
        name
        for name in assembly.resources(stack_suffix, "AWS::IAM::Role")
        if name.startswith(prefix)
    ]
    assert len(roles) == 1, f"no single role starting with {prefix!r}: {roles}"
    return roles[0]


def role_arn(stack_name: str, logical_id: str, account: str = "111111111111") -> str:
    """The ARN CloudFormation gives an unnamed role: ``<stack>-<logical id>-<suffix>``."""
    return f"arn:aws:iam::{account}:role/{stack_name}-{logical_id[:30]}-ABCDEFGH1234"


def resource_policy(
    assembly: Assembly, stack_suffix: str, type_: str, target: str
) -> list[dict[str, Any]]:
    """Statements of the resource policies of ``type_`` (queue, topic, bucket policy) that name
    the resource ``target`` (flattened reference text)."""
    found: list[dict[str, Any]] = []
    list_props = {"AWS::SQS::QueuePolicy": "Queues", "AWS::SNS::TopicPolicy": "Topics"}
    for resource in assembly.resources(stack_suffix, type_).values():
        props = resource["Properties"]
        names = (
            [flat(v, assembly) for v in props[list_props[type_]]]
            if type_ in list_props
            else [flat(props.get("Bucket"), assembly)]
        )
        if target in names:
            found += _document_statements(props["PolicyDocument"])
    return found


def key_policy(assembly: Assembly, key_ref: str) -> list[dict[str, Any]]:
    """Statements of the key policy of the key whose ``<LogicalId.Arn>`` text is ``key_ref``."""
    logical_id = key_ref.strip("<>").removesuffix(".Arn")
    for template in assembly.templates.values():
        key = template.get("Resources", {}).get(logical_id)
        if key and key["Type"] == "AWS::KMS::Key":
            return _document_statements(key["Properties"]["KeyPolicy"])
    raise AssertionError(f"no key {key_ref}")
