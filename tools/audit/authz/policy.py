"""IAM policy evaluation for one request: statement matching and condition operators.

Follows the IAM policy evaluation logic and condition-operator pages of the IAM User Guide
(reference_policies_evaluation-logic.html, reference_policies_elements_condition_operators.html):
actions match case-insensitively with ``*``/``?``, resources case-sensitively; several values of
one condition key are OR-ed, several keys and operators AND-ed; a key missing from the request
fails every operator except the negated ones (``StringNotEquals``, ``ArnNotLike``...),
``...IfExists`` and ``ForAllValues:``; ``Null`` tests presence. Operators outside that set raise
``UnsupportedCondition`` (so a template using one fails loudly instead of being misread).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


class UnsupportedCondition(ValueError):
    pass


@dataclass(frozen=True)
class Request:
    """One authorization request. ``principal``: a role ARN, or ``service:<name>`` for an AWS
    service principal. ``context``: condition keys (lower-case names) -> values."""

    principal: str
    action: str  # "service:Action"
    resource: str
    context: dict[str, Any] = field(default_factory=dict)

    def value(self, key: str) -> list[str] | None:
        found = self.context.get(key.lower())
        if found is None:
            return None
        return [str(v) for v in found] if isinstance(found, list | tuple) else [str(found)]


@dataclass(frozen=True)
class Statement:
    policy: str  # where it lives, e.g. "JobsRoleDefaultPolicy" or "bucket policy of X"
    body: dict[str, Any]

    @property
    def sid(self) -> str:
        return str(self.body.get("Sid") or f"#{id(self.body) % 10000}")

    @property
    def effect(self) -> str:
        return str(self.body.get("Effect", "Allow"))

    def label(self) -> str:
        sid = self.body.get("Sid")
        return f"{self.policy}" + (f" statement {sid}" if sid else "")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements(policy: str, document: dict[str, Any] | None) -> list[Statement]:
    return [Statement(policy, s) for s in as_list((document or {}).get("Statement"))]


@lru_cache(maxsize=4096)
def _glob(pattern: str, case: bool) -> re.Pattern[str]:
    """IAM wildcards: ``*`` any run of characters, ``?`` one; nothing else is special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL if case else re.DOTALL | re.IGNORECASE)


def wildcard(pattern: str, value: str, case: bool = True) -> bool:
    return bool(_glob(pattern, case).fullmatch(value))


def action_matches(statement: Statement, action: str) -> bool:
    if "NotAction" in statement.body:
        return not any(wildcard(a, action, False) for a in as_list(statement.body["NotAction"]))
    return any(wildcard(a, action, False) for a in as_list(statement.body.get("Action")))


def resource_matches(statement: Statement, resource: str) -> bool:
    if "NotResource" in statement.body:
        return not any(wildcard(str(r), resource) for r in as_list(statement.body["NotResource"]))
    if "Resource" not in statement.body:
        return True  # trust and some resource policies omit Resource: the resource itself
    return any(wildcard(str(r), resource) for r in as_list(statement.body["Resource"]))


def account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def principal_matches(statement: Statement, principal: str, *, account_root: bool) -> bool:
    """Resource-policy principal test. ``account_root``: whether an account principal
    (``arn:aws:iam::<account>:root`` or the bare account id) counts as naming every principal
    of that account (True in key policies, where it delegates to IAM policies)."""
    block = statement.body.get("Principal")
    if block is None:
        return True  # identity policy
    if block == "*":
        return True
    for kind, names in block.items():
        for name in map(str, as_list(names)):
            if kind == "Service" and principal == f"service:{name}":
                return True
            if kind != "AWS" or principal.startswith("service:"):
                continue
            if name in ("*", principal):
                return True
            root = name == f"arn:aws:iam::{account_of(principal)}:root"
            if account_root and (root or name == account_of(principal)):
                return True
    return False


def _operator(name: str) -> tuple[str, str, bool]:
    quantifier, _, base = name.rpartition(":")
    if_exists = base.endswith("IfExists")
    return quantifier, base.removesuffix("IfExists"), if_exists


def _compare(base: str, wanted: str, got: str) -> bool:
    if base in ("StringEquals", "ArnEquals"):
        return got == wanted
    if base == "StringEqualsIgnoreCase":
        return got.lower() == wanted.lower()
    if base in ("StringLike", "ArnLike"):
        return wildcard(wanted, got)
    if base == "Bool":
        return got.lower() == wanted.lower()
    if base.startswith("Numeric"):
        a, b = float(got), float(wanted)
        return {
            "NumericEquals": a == b,
            "NumericLessThan": a < b,
            "NumericLessThanEquals": a <= b,
            "NumericGreaterThan": a > b,
            "NumericGreaterThanEquals": a >= b,
        }[base]
    raise UnsupportedCondition(base)


NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


def condition_holds(statement: Statement, request: Request) -> bool:
    for op, block in (statement.body.get("Condition") or {}).items():
        quantifier, base, if_exists = _operator(op)
        for key, wanted in block.items():
            wanted_values = [
                str(w).lower() if isinstance(w, bool) else str(w) for w in as_list(wanted)
            ]
            got = request.value(key)
            if base == "Null":
                if (got is None) != (wanted_values[0].lower() == "true"):
                    return False
                continue
            if got is None:
                if if_exists or base in NEGATED or quantifier == "ForAllValues":
                    continue
                return False
            positive = NEGATED.get(base, base)

            def one(
                value: str, positive: str = positive, wanted: list[str] = wanted_values
            ) -> bool:
                return any(_compare(positive, w, value) for w in wanted)

            if quantifier == "ForAllValues":
                ok = all(one(v) for v in got)
            elif quantifier == "ForAnyValue":
                ok = any(one(v) for v in got)
            else:
                ok = any(one(v) for v in got)
            if base in NEGATED:
                ok = not ok
            if not ok:
                return False
    return True


def applies(statement: Statement, request: Request, *, account_root: bool = False) -> bool:
    return (
        action_matches(statement, request.action)
        and resource_matches(statement, request.resource)
        and principal_matches(statement, request.principal, account_root=account_root)
        and condition_holds(statement, request)
    )


@dataclass
class Outcome:
    allowed_by: list[Statement] = field(default_factory=list)
    denied_by: list[Statement] = field(default_factory=list)


def evaluate(policy: list[Statement], request: Request, *, account_root: bool = False) -> Outcome:
    out = Outcome()
    for s in policy:
        if applies(s, request, account_root=account_root):
            (out.allowed_by if s.effect == "Allow" else out.denied_by).append(s)
    return out


def naming(policy: list[Statement], action: str) -> list[Statement]:
    """Allow statements that name ``action`` whatever their resource and conditions: what a
    reviewer reads next to a denial."""
    return [s for s in policy if s.effect == "Allow" and action_matches(s, action)]
