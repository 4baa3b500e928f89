"""Every place where AWS writes on the project's behalf, and whether it is allowed to.

Paths, read from the templates: CloudWatch alarm actions -> SNS topics; EventBridge rule
targets (Lambda, SQS, SNS) and their dead-letter queues; Lambda asynchronous dead-letter
queues; SNS subscriptions to SQS and their redrive queues; S3 server access logs; VPC flow logs
to CloudWatch Logs; Step Functions and API Gateway logging; CloudWatch Logs encryption of every
log group. For each: the destination's resource policy must admit the writer (a service
principal, with the ``aws:SourceArn``/``aws:SourceAccount`` its request carries), a role that
writes needs the identity policy and a trust policy admitting the service, and an encrypted
destination needs the key policy (and identity policy where a role encrypts).

Condition keys a service's request carries (``SOURCE_KEYS``): EventBridge's KMS requests for
encrypted SNS/SQS destinations carry neither ``aws:SourceArn`` nor ``aws:SourceAccount``
(SNS Developer Guide, sns-key-management.html, "compatibility with AWS services"; EventBridge
User Guide, eb-troubleshooting.html "encrypted queue/topic"); every other writer here carries
both on its resource-policy and key-policy requests (CloudWatch: AlarmThatSendsEmail.html; SNS
to SQS: sqs-key-management.html; S3 logging: enable-server-access-logging.html; CloudWatch
Logs: encrypt-log-data-kms.html uses the encryption context instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.audit.authz.calls import Authorizer, encryption_context
from tools.audit.authz.policy import Request, as_list, evaluate, statements

# Service principals whose KMS requests carry no aws:SourceArn / aws:SourceAccount.
NO_SOURCE_KEYS_FOR_KMS = {"events.amazonaws.com"}
# VPC Flow Logs delivery to CloudWatch Logs (flow-logs-cwl.html, "IAM role").
FLOW_LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# Step Functions logging with a customer role (cw-logs.html, "IAM policies for logging").
VENDED_LOG_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)


@dataclass
class Path:
    kind: str
    source: str
    destination: str
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def deliverable(self) -> bool:
        return not self.problems


class Deliveries:
    def __init__(self, authorizer: Authorizer) -> None:
        self.a = authorizer
        self.d = authorizer.d
        self.m = authorizer.model

    # -- one request ---------------------------------------------------------------------
    def _check(self, path: Path, request: Request) -> None:
        path.checked.append(f"{request.principal} {request.action} on {request.resource}")
        reason = self.a.denial(request)
        if reason is not None:
            path.problems.append(f"{request.action} on {request.resource}: {reason}")

    def _service(self, principal: str, source_arn: str | None) -> dict[str, Any]:
        context: dict[str, Any] = {"aws:securetransport": "true", "aws:viaawsservice": "true"}
        if source_arn is not None:
            context["aws:sourcearn"] = source_arn
            context["aws:sourceaccount"] = self.d.account
        return context

    def _to_store(
        self, path: Path, principal: str, action: str, arn: str, source_arn: str | None
    ) -> None:
        """A service principal writes to a queue or topic, encrypting with its key."""
        writer = f"service:{principal}"
        held = self.m.resource_policy(arn)
        if held is None and ":sns:" in arn:
            path.checked.append(f"{writer} {action} on {arn} (SNS default topic policy)")
        else:
            self._check(path, Request(writer, action, arn, self._service(principal, source_arn)))
        key = self.m.encryption.get(arn)
        if key is not None:
            kms_source = None if principal in NO_SOURCE_KEYS_FOR_KMS else source_arn
            context = {**self._service(principal, kms_source), **encryption_context(arn)}
            for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                self._check(path, Request(writer, kms_action, key, context))

    def _role_writes(self, path: Path, role: str, action: str, arn: str, via: str) -> None:
        """A role (a function's, used by Lambda) writes to a queue or topic."""
        base = {
            "aws:principalarn": role,
            "aws:principalaccount": self.d.account,
            "aws:securetransport": "true",
            "aws:requestedregion": self.d.region,
            "kms:calleraccount": self.d.account,
        }
        self._check(path, Request(role, action, arn, {**base, "aws:viaawsservice": "false"}))
        key = self.m.encryption.get(arn)
        if key is not None:
            context = {
                **base,
                **encryption_context(arn),
                "aws:viaawsservice": "true",
                "kms:viaservice": f"{via}.{self.d.region}.amazonaws.com",
            }
            for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                self._check(path, Request(role, kms_action, key, context))

    def _trust(self, path: Path, role_arn: str, principal: str, source_arn: str | None) -> None:
        found = self.d.find(role_arn)
        if found is None:
            path.problems.append(f"role {role_arn} is not in the templates")
            return
        doc = self.d.document(
            self.d.resource(*found).properties.get("AssumeRolePolicyDocument"), found[0]
        )
        request = Request(
            f"service:{principal}", "sts:AssumeRole", role_arn, self._service(principal, source_arn)
        )
        path.checked.append(f"trust of {role_arn} for {principal}")
        if not evaluate(statements(f"trust policy {found[1]}", doc), request).allowed_by:
            path.problems.append(f"the trust policy of {found[1]} does not admit {principal}")

    def _logs_encryption(self, path: Path, group: str, name: str, key: Any) -> None:
        key_arn = self.m.key(key)
        if key_arn is None or ":key/" not in key_arn:
            return
        principal = f"logs.{self.d.region}.amazonaws.com"
        arn = f"arn:aws:logs:{self.d.region}:{self.d.account}:log-group:{name}"
        context = {"kms:encryptioncontext:aws:logs:arn": arn}
        for action in ("kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"):
            self._check(path, Request(f"service:{principal}", action, key_arn, context))

    # -- the paths -----------------------------------------------------------------------
    def paths(self) -> list[Path]:
        out: list[Path] = []
        for r in self.d.resources():
            handler = getattr(self, "_" + r.type.replace("::", "_").lower(), None)
            if handler is not None:
                out += handler(r)
        return out

    def _aws_cloudwatch_alarm(self, r: Any) -> list[Path]:
        alarm = self.d.values(r.stack, r.logical_id)["Arn"]
        out = []
        for prop in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for target in as_list(self.d.resolve(r.properties.get(prop), r.stack)):
                path = Path("alarm action", r.logical_id, str(target))
                if ":sns:" in str(target):
                    self._to_store(path, "cloudwatch.amazonaws.com", "sns:Publish", target, alarm)
                else:
                    path.problems.append(f"alarm action {target}: not a destination this checks")
                out.append(path)
        return out

    def _aws_events_rule(self, r: Any) -> list[Path]:
        rule = self.d.values(r.stack, r.logical_id)["Arn"]
        out = []
        for target in as_list(r.properties.get("Targets")):
            arn = str(self.d.resolve(target["Arn"], r.stack))
            path = Path("EventBridge target", r.logical_id, arn)
            if ":lambda:" in arn:
                request = Request(
                    "service:events.amazonaws.com",
                    "lambda:InvokeFunction",
                    arn,
                    self._service("events.amazonaws.com", rule),
                )
                self._check(path, request)
            elif ":sqs:" in arn:
                self._to_store(path, "events.amazonaws.com", "sqs:SendMessage", arn, rule)
            elif ":sns:" in arn:
                self._to_store(path, "events.amazonaws.com", "sns:Publish", arn, rule)
            else:
                path.problems.append(f"target {arn}: not a destination this checks")
            if "RoleArn" in target:
                self._trust(
                    path,
                    str(self.d.resolve(target["RoleArn"], r.stack)),
                    "events.amazonaws.com",
                    rule,
                )
            out.append(path)
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dlq is not None:
                queue = str(self.d.resolve(dlq, r.stack))
                path = Path("EventBridge target dead-letter queue", r.logical_id, queue)
                self._to_store(path, "events.amazonaws.com", "sqs:SendMessage", queue, rule)
                out.append(path)
        return out

    def _aws_lambda_function(self, r: Any) -> list[Path]:
        target = (r.properties.get("DeadLetterConfig") or {}).get("TargetArn")
        if target is None:
            return []
        arn = str(self.d.resolve(target, r.stack))
        role = self.m.function_role(r.stack, r.logical_id)
        path = Path("Lambda async dead-letter queue", r.logical_id, arn)
        if ":sqs:" in arn:
            self._role_writes(path, role, "sqs:SendMessage", arn, "sqs")
        else:
            self._role_writes(path, role, "sns:Publish", arn, "sns")
        return [path]

    def _aws_sns_subscription(self, r: Any) -> list[Path]:
        topic = str(self.d.resolve(r.properties["TopicArn"], r.stack))
        out = []
        if r.properties.get("Protocol") == "sqs":
            queue = str(self.d.resolve(r.properties["Endpoint"], r.stack))
            path = Path("SNS subscription", r.logical_id, queue)
            self._to_store(path, "sns.amazonaws.com", "sqs:SendMessage", queue, topic)
            out.append(path)
        redrive = r.properties.get("RedrivePolicy") or {}
        if "deadLetterTargetArn" in redrive:
            queue = str(self.d.resolve(redrive["deadLetterTargetArn"], r.stack))
            path = Path("SNS subscription redrive queue", r.logical_id, queue)
            self._to_store(path, "sns.amazonaws.com", "sqs:SendMessage", queue, topic)
            out.append(path)
        return out

    def _aws_s3_bucket(self, r: Any) -> list[Path]:
        logging = r.properties.get("LoggingConfiguration")
        if not logging:
            return []
        source = self.d.values(r.stack, r.logical_id)["Arn"]
        bucket = (
            str(self.d.resolve(logging.get("DestinationBucketName"), r.stack))
            if logging.get("DestinationBucketName")
            else source.split(":::")[1]
        )
        prefix = str(logging.get("LogFilePrefix", ""))
        path = Path("S3 server access logs", r.logical_id, f"s3://{bucket}/{prefix}")
        principal = "logging.s3.amazonaws.com"
        obj = f"arn:aws:s3:::{bucket}/{prefix}2026-01-01-00-00-00-EXAMPLE"
        context = self._service(principal, source)
        self._check(path, Request(f"service:{principal}", "s3:PutObject", obj, context))
        key = self.m.encryption.get(bucket)
        if key is not None:
            self._check(path, Request(f"service:{principal}", "kms:GenerateDataKey", key, context))
        return [path]

    def _aws_ec2_flowlog(self, r: Any) -> list[Path]:
        p = r.properties
        if p.get("LogDestinationType", "cloud-watch-logs") != "cloud-watch-logs":
            return []
        group = str(self.d.resolve(p.get("LogGroupName"), r.stack))
        role = str(self.d.resolve(p["DeliverLogsPermissionArn"], r.stack))
        source = f"arn:aws:ec2:{self.d.region}:{self.d.account}:vpc-flow-log/fl-{r.logical_id}"
        path = Path("VPC flow logs", r.logical_id, group)
        self._trust(path, role, "vpc-flow-logs.amazonaws.com", source)
        stream = f"arn:aws:logs:{self.d.region}:{self.d.account}:log-group:{group}:log-stream:eni-1"
        for action in FLOW_LOG_ACTIONS:
            self._check(path, Request(role, action, stream, {"aws:principalarn": role}))
        return [path]

    def _aws_logs_loggroup(self, r: Any) -> list[Path]:
        name = str(self.d.values(r.stack, r.logical_id)["Ref"])
        path = Path("CloudWatch Logs encryption", r.logical_id, name)
        if "KmsKeyId" in r.properties:
            self._logs_encryption(
                path, r.logical_id, name, self.d.resolve(r.properties["KmsKeyId"], r.stack)
            )
        return [path] if path.checked or path.problems else []

    def _aws_stepfunctions_statemachine(self, r: Any) -> list[Path]:
        logging = r.properties.get("LoggingConfiguration")
        if not logging:
            return []
        role = str(self.d.resolve(r.properties["RoleArn"], r.stack))
        path = Path("Step Functions execution logs", r.logical_id, "CloudWatch Logs")
        for action in VENDED_LOG_ACTIONS:
            self._check(path, Request(role, action, "*", {"aws:principalarn": role}))
        return [path]

    def _aws_apigateway_stage(self, r: Any) -> list[Path]:
        setting = r.properties.get("AccessLogSetting")
        if not setting:
            return []
        group = str(self.d.resolve(setting["DestinationArn"], r.stack))
        path = Path("API Gateway access logs", r.logical_id, group)
        accounts = list(self.d.resources("AWS::ApiGateway::Account"))
        if not accounts:
            path.problems.append("no AWS::ApiGateway::Account names a CloudWatch role")
        for account in accounts:
            role = str(self.d.resolve(account.properties["CloudWatchRoleArn"], account.stack))
            stage = f"arn:aws:apigateway:{self.d.region}::/restapis/{r.properties.get('RestApiId')}"
            self._trust(path, role, "apigateway.amazonaws.com", stage)
            found = self.d.find(role)
            managed = (
                [
                    str(self.d.resolve(m, found[0]))
                    for m in as_list(self.d.resource(*found).properties.get("ManagedPolicyArns"))
                ]
                if found
                else []
            )
            if any(
                m.endswith(":policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
                for m in managed
            ):
                path.checked.append(
                    f"{role} holds AWS managed AmazonAPIGatewayPushToCloudWatchLogs"
                )
            else:
                self._check(
                    path,
                    Request(
                        role,
                        "logs:PutLogEvents",
                        group + ":log-stream:s",
                        {"aws:principalarn": role},
                    ),
                )
        return [path]
