"""Who holds which policy in a deployment: identity policies of roles, resource policies of
buckets, queues and topics, key policies, VPC endpoint policies, and the keys that encrypt each
store."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from tools.audit.authz.deployment import Deployment
from tools.audit.authz.policy import Statement, as_list, statements

# botocore endpoint prefix -> the VPC endpoint service suffix (com.amazonaws.<region>.<suffix>)
ENDPOINT_SERVICE = {"api.sagemaker": "sagemaker.api"}


class PolicyModel:
    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment

    # -- identities ---------------------------------------------------------------------------
    @cached_property
    def _identity(self) -> dict[str, list[Statement]]:
        """Role ARN -> its identity-policy statements (inline, attached, customer managed)."""
        by_role: dict[str, list[Statement]] = {}
        names: dict[str, str] = {}
        for r in self.d.resources("AWS::IAM::Role"):
            arn = self.d.values(r.stack, r.logical_id)["Arn"]
            names[self.d.values(r.stack, r.logical_id)["Ref"]] = arn
            found = by_role.setdefault(arn, [])
            for inline in as_list(r.properties.get("Policies")):
                doc = self.d.document(inline.get("PolicyDocument"), r.stack)
                found += statements(f"{r.logical_id}/{inline.get('PolicyName')}", doc)
        for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for r in self.d.resources(type_):
                doc = self.d.document(r.properties.get("PolicyDocument"), r.stack)
                for role in as_list(self.d.resolve(r.properties.get("Roles"), r.stack)):
                    if role in names:
                        by_role[names[role]] += statements(r.logical_id, doc)
        return by_role

    def identity(self, role_arn: str) -> list[Statement]:
        return self._identity.get(role_arn, [])

    def roles(self) -> list[str]:
        return list(self._identity)

    def function_role(self, stack: str, logical: str) -> str:
        return str(self.d.resolve(self.d.resource(stack, logical).properties["Role"], stack))

    # -- resource policies --------------------------------------------------------------------
    @cached_property
    def _resource_policies(self) -> dict[str, list[Statement]]:
        """Bucket name / queue ARN / topic ARN / key ARN / function ARN -> statements."""
        out: dict[str, list[Statement]] = {}
        for r in self.d.resources():
            props, stack = r.properties, r.stack
            if r.type == "AWS::S3::BucketPolicy":
                bucket = self.d.resolve(props["Bucket"], stack)
                doc = self.d.document(props["PolicyDocument"], stack)
                out.setdefault(bucket, []).extend(statements(f"bucket policy {r.logical_id}", doc))
            elif r.type == "AWS::SQS::QueuePolicy":
                doc = self.d.document(props["PolicyDocument"], stack)
                for url in as_list(self.d.resolve(props["Queues"], stack)):
                    out.setdefault(self._queue_arn(url), []).extend(
                        statements(f"queue policy {r.logical_id}", doc)
                    )
            elif r.type == "AWS::SNS::TopicPolicy":
                doc = self.d.document(props["PolicyDocument"], stack)
                for arn in as_list(self.d.resolve(props["Topics"], stack)):
                    out.setdefault(arn, []).extend(statements(f"topic policy {r.logical_id}", doc))
            elif r.type == "AWS::Lambda::Permission":
                out.setdefault(self._function_arn(props["FunctionName"], stack), []).append(
                    Statement(f"Lambda permission {r.logical_id}", self._permission(props, stack))
                )
            elif r.type == "AWS::KMS::Key":
                doc = self.d.document(props.get("KeyPolicy"), stack)
                arn = self.d.values(stack, r.logical_id)["Arn"]
                out[arn] = statements(f"key policy {r.logical_id}", doc)
        return out

    def _function_arn(self, reference: Any, stack: str) -> str:
        name = str(self.d.resolve(reference, stack))
        if name.startswith("arn:"):
            return name
        return f"arn:aws:lambda:{self.d.region}:{self.d.account}:function:{name}"

    def _permission(self, props: dict[str, Any], stack: str) -> dict[str, Any]:
        """An AWS::Lambda::Permission as the statement Lambda adds to the function's policy."""
        principal = str(self.d.resolve(props["Principal"], stack))
        kind = "Service" if principal.endswith(".amazonaws.com") else "AWS"
        condition: dict[str, Any] = {}
        if "SourceArn" in props:
            condition["ArnLike"] = {"aws:SourceArn": self.d.resolve(props["SourceArn"], stack)}
        if "SourceAccount" in props:
            account = self.d.resolve(props["SourceAccount"], stack)
            condition["StringEquals"] = {"aws:SourceAccount": account}
        return {
            "Effect": "Allow",
            "Principal": {kind: principal},
            "Action": self.d.resolve(props["Action"], stack),
            "Resource": self._function_arn(props["FunctionName"], stack),
            "Condition": condition,
        }

    def _queue_arn(self, url: str) -> str:
        account, name = url.rstrip("/").split("/")[-2:]
        return f"arn:aws:sqs:{self.d.region}:{account}:{name}"

    def resource_policy(self, resource_arn: str) -> tuple[str, list[Statement]] | None:
        """(what holds it, statements) for the policy guarding ``resource_arn``, if any."""
        if resource_arn.startswith("arn:aws:s3:::"):
            bucket = resource_arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            found = self._resource_policies.get(bucket)
            return (f"bucket {bucket}", found) if found is not None else None
        found = self._resource_policies.get(resource_arn)
        return (resource_arn, found) if found is not None else None

    def key(self, reference: Any) -> str | None:
        """The key ARN that a KMS key id / ARN / alias in a template names."""
        if reference is None:
            return None
        text = str(reference)
        for r in self.d.resources("AWS::KMS::Key"):
            values = self.d.values(r.stack, r.logical_id)
            if text in (values["Arn"], values["Ref"]):
                return str(values["Arn"])
        for r in self.d.resources("AWS::KMS::Alias"):
            if text.endswith(str(self.d.resolve(r.properties["AliasName"], r.stack))):
                return self.key(self.d.resolve(r.properties["TargetKeyId"], r.stack))
        return text  # an AWS managed key (alias/aws/...): no key policy of ours

    # -- encryption of stores -----------------------------------------------------------------
    @cached_property
    def encryption(self) -> dict[str, str]:
        """Bucket name / queue ARN / topic ARN / state machine ARN -> customer key ARN."""
        out: dict[str, str] = {}
        for r in self.d.resources():
            props, v = r.properties, None
            if r.type == "AWS::S3::Bucket":
                rules = (props.get("BucketEncryption") or {}).get(
                    "ServerSideEncryptionConfiguration"
                )
                for rule in as_list(rules):
                    v = (rule.get("ServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID")
                name = self.d.values(r.stack, r.logical_id)["Ref"]
            elif r.type in ("AWS::SQS::Queue", "AWS::SNS::Topic"):
                v = props.get("KmsMasterKeyId")
                values = self.d.values(r.stack, r.logical_id)
                name = values.get("Arn") if r.type == "AWS::SQS::Queue" else values["TopicArn"]
            elif r.type == "AWS::StepFunctions::StateMachine":
                config = props.get("EncryptionConfiguration") or {}
                if config.get("Type") == "CUSTOMER_MANAGED_KMS_KEY":
                    v = config.get("KmsKeyId")
                name = self.d.values(r.stack, r.logical_id)["Arn"]
            else:
                continue
            key = self.key(self.d.resolve(v, r.stack)) if v is not None else None
            if key is not None and ":key/" in key:
                out[str(name)] = key
        return out

    # -- network ------------------------------------------------------------------------------
    def in_vpc(self, stack: str, logical: str) -> bool:
        return "VpcConfig" in self.d.resource(stack, logical).properties

    @cached_property
    def nat(self) -> bool:
        return any(True for _ in self.d.resources("AWS::EC2::NatGateway"))

    def endpoint(self, endpoint_prefix: str) -> tuple[str, list[Statement] | None] | None:
        """(endpoint id, its policy statements or None for AWS's default full access) of the
        VPC endpoint that serves ``endpoint_prefix`` (botocore's), if any."""
        suffix = ENDPOINT_SERVICE.get(endpoint_prefix, endpoint_prefix)
        for r in self.d.resources("AWS::EC2::VPCEndpoint"):
            name = str(self.d.resolve(r.properties["ServiceName"], r.stack))
            if name == f"com.amazonaws.{self.d.region}.{suffix}":
                doc = r.properties.get("PolicyDocument")
                policy = (
                    statements(f"endpoint policy {r.logical_id}", self.d.document(doc, r.stack))
                    if doc is not None
                    else None
                )
                return str(self.d.values(r.stack, r.logical_id)["Ref"]), policy
        return None

    @cached_property
    def vpc_id(self) -> str | None:
        for r in self.d.resources("AWS::EC2::VPC"):
            return str(self.d.values(r.stack, r.logical_id)["Ref"])
        return None
