"""Decides whether recorded API calls of the Lambda handlers are allowed by the templates.

For every call: the action and resources it needs (``actions``), plus what it implies:
``iam:PassRole`` for a role it hands to a service (with ``iam:PassedToService``), tag-on-create
permission for tags it sets, and the KMS requests the service makes with the caller's
credentials for each customer-managed key the call's store is encrypted with (S3 SSE-KMS
objects, SQS and SNS server-side encryption, Step Functions execution data; Developer Guide
pages: UsingKMSEncryption.html "permissions", sqs-key-management.html, sns-key-management.html,
encryption-at-rest.html for Step Functions). Each request is evaluated against the role's
identity policies, the resource's policy, the key policy (which must allow the role itself, or
the account and so delegate to the identity policy) and the policy of the VPC endpoint the
call goes through. Same-account rule: an Allow in the identity policy or one naming the role in
the resource policy suffices; any applicable Deny wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.audit.authz.actions import UnknownAction, accesses, iam_action
from tools.audit.authz.deployment import Deployment
from tools.audit.authz.model import PolicyModel
from tools.audit.authz.policy import Request, Statement, evaluate, naming, principal_matches

ROLE_PARAMS = ("roleArn", "RoleArn", "executionRoleArn", "ExecutionRoleArn")
TAG_PARAMS = ("jobTags", "customModelTags", "importedModelTags", "modelTags", "tags", "Tags")
# operation -> KMS actions the service requests with the caller's credentials (pages above).
KMS_FOR = {
    ("s3", "GetObject"): ("kms:Decrypt",),
    ("s3", "HeadObject"): ("kms:Decrypt",),
    ("s3", "PutObject"): ("kms:GenerateDataKey",),
    ("s3", "CopyObject"): ("kms:Decrypt", "kms:GenerateDataKey"),
    ("sqs", "SendMessage"): ("kms:GenerateDataKey", "kms:Decrypt"),
    ("sqs", "ReceiveMessage"): ("kms:Decrypt",),
    ("sns", "Publish"): ("kms:GenerateDataKey", "kms:Decrypt"),
    ("stepfunctions", "StartExecution"): ("kms:GenerateDataKey",),
    ("stepfunctions", "DescribeExecution"): ("kms:Decrypt",),
    ("stepfunctions", "GetExecutionHistory"): ("kms:Decrypt",),
    ("stepfunctions", "StopExecution"): ("kms:GenerateDataKey",),
}
SERVICE_HOST = {"stepfunctions": "states"}


def encryption_context(store: str) -> dict[str, str]:
    """The encryption context a service's KMS request for ``store`` carries (SQS Developer
    Guide, sqs-server-side-encryption.html: ``aws:sqs:arn``; SNS Developer Guide,
    sns-server-side-encryption.html: ``aws:sns:topicArn``; Step Functions Developer Guide,
    encryption-at-rest.html: ``aws:states:stateMachineArn`` for a machine and its executions)."""
    if store.startswith("arn:aws:states:"):
        machine = store
        if ":execution:" in store:
            machine = store.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
        return {"kms:encryptioncontext:aws:states:statemachinearn": machine}
    if store.startswith("arn:aws:sqs:"):
        return {"kms:encryptioncontext:aws:sqs:arn": store}
    if store.startswith("arn:aws:sns:"):
        return {"kms:encryptioncontext:aws:sns:topicarn": store}
    return {}


@dataclass(frozen=True)
class Call:
    scenario: str
    function: tuple[str, str]  # (stack, logical id) of the Lambda function
    caller: str  # module:function:line of the handler code that made it
    service: str  # botocore service name
    operation: str
    params: dict[str, Any]


@dataclass
class Decision:
    call: Call
    role: str
    checked: list[str] = field(default_factory=list)  # "action on resource"
    denials: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.denials


def _labels(found: list[Statement]) -> str:
    return ", ".join(s.label() for s in found) or "none"


class Authorizer:
    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment
        self.model = PolicyModel(deployment)

    def check(self, call: Call) -> Decision:
        role = self.model.function_role(*call.function)
        return self.check_as(role, call, in_vpc=self.model.in_vpc(*call.function))

    def check_as(self, role: str, call: Call, *, in_vpc: bool) -> Decision:
        """``call`` made with ``role``'s credentials, from inside the project's VPC or not (a
        service acting with a passed role: ``tools/audit/authz/jobs.py``)."""
        decision = Decision(call, role)
        base = self._context(role)
        tags = self._tags(call.params)
        if tags and call.operation.startswith("Create"):  # tag-on-create: the request's tags
            base["aws:tagkeys"] = list(tags)
            base.update({f"aws:requesttag/{k}".lower(): v for k, v in tags.items()})
        try:
            needed, underived = accesses(
                call.service, call.operation, call.params, self.d.region, self.d.account
            )
        except UnknownAction as exc:
            decision.denials.append(str(exc))
            return decision
        if not needed:
            decision.denials.append(
                f"no resource of {iam_action(call.service, call.operation)} "
                f"({', '.join(underived)}) can be derived from the call's parameters"
            )
        endpoint_id, endpoint = self._endpoint(call, decision, in_vpc)
        network = {"aws:sourcevpce": endpoint_id, "aws:sourcevpc": self.model.vpc_id}
        for access in needed:
            context = dict(base)
            if endpoint_id:
                context.update(network)
            if access.action == "s3:ListBucket" and "Prefix" in call.params:
                context["s3:prefix"] = call.params["Prefix"]
            self._decide(decision, Request(role, access.action, access.resource, context), endpoint)
        for request in self._implied(call, role, base, needed):
            # PassRole and tagging are part of the call itself: same network context
            if endpoint_id and not request.action.startswith("kms:"):
                request = Request(
                    request.principal,
                    request.action,
                    request.resource,
                    {**request.context, **network},
                )
            self._decide(decision, request, None)
        return decision

    # -- what a call implies --------------------------------------------------------------
    def _context(self, role: str) -> dict[str, Any]:
        return {
            "aws:principalarn": role,
            "aws:principalaccount": self.d.account,
            "aws:requestedregion": self.d.region,
            "aws:securetransport": "true",
            "s3:tlsversion": "1.3",
            "aws:viaawsservice": "false",
            "kms:calleraccount": self.d.account,
        }

    def _endpoint(
        self, call: Call, decision: Decision, in_vpc: bool
    ) -> tuple[str | None, list[Statement] | None]:
        """(id, policy) of the VPC endpoint the call goes through; (None, None) outside the VPC.
        A policy of None is AWS's default full-access endpoint policy."""
        if not in_vpc:
            return None, None
        import botocore.session

        prefix = botocore.session.get_session().get_service_model(call.service).endpoint_prefix
        found = self.model.endpoint(prefix)
        if found is None:
            if not self.model.nat:
                decision.denials.append(
                    f"no network path: the function runs in the VPC, which has no NAT gateway "
                    f"and no VPC endpoint for {prefix}"
                )
            return None, None
        return found

    def _implied(
        self, call: Call, role: str, base: dict[str, Any], needed: list[Any]
    ) -> list[Request]:
        out: list[Request] = []
        principal_service = f"{SERVICE_HOST.get(call.service, call.service)}.amazonaws.com"
        for param in ROLE_PARAMS:
            passed = call.params.get(param)
            if isinstance(passed, str):
                context = {**base, "iam:passedtoservice": principal_service}
                out.append(Request(role, "iam:PassRole", passed, context))
        tags = self._tags(call.params)
        if tags and call.operation.startswith("Create"):
            prefix = iam_action(call.service, call.operation).split(":")[0]
            tag_action = "sagemaker:AddTags" if prefix == "sagemaker" else f"{prefix}:TagResource"
            for access in needed:
                if access.resource != "*" and ":foundation-model/" not in access.resource:
                    out.append(Request(role, tag_action, access.resource, base))
        kms_actions = KMS_FOR.get((call.service, call.operation), ())
        if kms_actions:
            for access in needed:
                key = self._store_key(access.resource)
                if access.action == "s3:PutObject" and call.params.get("SSEKMSKeyId"):
                    key = str(call.params["SSEKMSKeyId"])  # the key the writer names wins
                if key is None:
                    continue
                host = SERVICE_HOST.get(call.service, call.service)
                context = {
                    **base,
                    **encryption_context(access.resource),
                    "kms:viaservice": f"{host}.{self.d.region}.amazonaws.com",
                    "aws:viaawsservice": "true",
                }
                out += [Request(role, a, key, context) for a in kms_actions]
        return out

    @staticmethod
    def _tags(params: dict[str, Any]) -> dict[str, str]:
        for name in TAG_PARAMS:
            given = params.get(name)
            if isinstance(given, list):
                return {
                    str(t.get("key", t.get("Key"))): str(t.get("value", t.get("Value")))
                    for t in given
                }
        return {}

    def _store_key(self, resource: str) -> str | None:
        if resource.startswith("arn:aws:s3:::"):
            return self.model.encryption.get(resource.removeprefix("arn:aws:s3:::").split("/")[0])
        if ":execution:" in resource:  # an execution's data is encrypted with its machine's key
            machine = resource.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
            return self.model.encryption.get(machine)
        return self.model.encryption.get(resource)

    # -- one request ----------------------------------------------------------------------
    def _decide(
        self, decision: Decision, request: Request, endpoint: list[Statement] | None
    ) -> None:
        owner = self.resource_account(request.resource)
        if owner is not None:
            request = Request(
                request.principal,
                request.action,
                request.resource,
                {**request.context, "aws:resourceaccount": owner},
            )
        decision.checked.append(f"{request.action} on {request.resource}")
        reason = self.denial(request, endpoint)
        if reason:
            decision.denials.append(f"{request.action} on {request.resource}: {reason}")

    def resource_account(self, resource: str) -> str | None:
        """aws:ResourceAccount of a request: the account in the resource's ARN; a bucket of the
        templates is this account's; an action without a resource type acts in the caller's
        account; AWS-owned resources (foundation models, other accounts' buckets) have none
        that is ours, so the key is absent (IAM User Guide, reference_policies_condition-keys
        .html#condition-keys-resourceaccount)."""
        if resource == "*":
            return self.d.account
        if resource.startswith("arn:aws:s3:::"):
            bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            own = {
                self.d.values(r.stack, r.logical_id)["Ref"]
                for r in self.d.resources("AWS::S3::Bucket")
            }
            return self.d.account if bucket in own else None
        parts = resource.split(":")
        return parts[4] if len(parts) > 5 and parts[4] else None

    def denial(self, request: Request, endpoint: list[Statement] | None = None) -> str | None:
        """Why ``request`` is denied, or None when it is allowed."""
        identity = self.model.identity(request.principal)
        held = self.model.resource_policy(request.resource)
        is_key = request.action.startswith("kms:")
        resource_policy = held[1] if held else []
        id_out = evaluate(identity, request)
        res_out = evaluate(resource_policy, request, account_root=is_key)
        end_out = evaluate(endpoint or [], request)
        denied = id_out.denied_by + res_out.denied_by + end_out.denied_by
        if denied:
            return f"explicitly denied by {_labels(denied)}"
        if endpoint is not None and not end_out.allowed_by:
            return f"the VPC endpoint policy allows it nowhere (statements: {_labels(endpoint)})"
        direct = [
            s
            for s in res_out.allowed_by
            if principal_matches(s, request.principal, account_root=False)
        ]
        if is_key:
            if not held:
                return None  # an AWS managed key: its policy admits every caller of the account
            if direct or (res_out.allowed_by and id_out.allowed_by):
                return None
            if not res_out.allowed_by:
                near = naming(resource_policy, request.action)
                return (
                    f"no statement of the key policy ({held[0]}) admits {request.principal} "
                    f"with this context (statements naming the action: {_labels(near)})"
                )
            near = naming(identity, request.action)
            return (
                f"the key policy delegates to IAM but no identity-policy statement of "
                f"{request.principal} allows it (statements naming the action: {_labels(near)})"
            )
        if id_out.allowed_by or direct:
            return None
        if request.principal.startswith("service:"):  # a service principal has no identity policy
            where = f"the resource policy of {held[0]}" if held else "no resource policy"
            near = naming(resource_policy, request.action)
            return (
                f"{where} admits {request.principal.removeprefix('service:')} nowhere with this "
                f"context (statements naming the action: {_labels(near)})"
            )
        near = naming(identity, request.action)
        return (
            f"no identity-policy statement of {request.principal} allows it"
            f"{' nor does the resource policy of ' + held[0] if held else ''} "
            f"(statements naming the action: {_labels(near)})"
        )
