"""AWS WAF web ACL in front of the regional trigger API, with its logs.

AWS managed rule groups for common exploits, known bad inputs and IP reputation, plus a
per-address rate limit. Requests are logged to a KMS-encrypted group with the credentials
(``authorization``, ``x-api-key``, the session token) redacted.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.constructs.secure_defaults import encrypted_log_group

# (rule group, why): evaluated in this order, each blocks what it matches.
MANAGED_RULE_GROUPS: tuple[tuple[str, str], ...] = (
    ("AWSManagedRulesAmazonIpReputationList", "addresses AWS threat intelligence flags"),
    ("AWSManagedRulesCommonRuleSet", "OWASP-style exploits; run documents are small JSON"),
    ("AWSManagedRulesKnownBadInputsRuleSet", "request patterns of known vulnerabilities"),
)
REDACTED_HEADERS = ("authorization", "x-api-key", "x-amz-security-token")


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


class ApiFirewall(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        stage: apigw.Stage,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        rate_limit_per_5_min: int,
    ) -> None:
        super().__init__(scope, construct_id)
        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=_visibility(group),
            )
            for priority, (group, _why) in enumerate(MANAGED_RULE_GROUPS)
        ]
        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerAddress",
                priority=len(rules),
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit_per_5_min, aggregate_key_type="IP"
                    )
                ),
                visibility_config=_visibility("RateLimitPerAddress"),
            )
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"{prefix}-runs-api",
            description="Trigger API: managed rule groups and a per-address rate limit",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"{prefix}-runs-api"),
            rules=rules,
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        # WAF delivers only to groups named aws-waf-logs-*, addressed without the ':*' suffix.
        self.log_group = encrypted_log_group(
            self,
            "Logs",
            name=f"aws-waf-logs-{prefix}-runs-api",
            key=key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        self.logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=self.log_group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in REDACTED_HEADERS
            ],
        )
        self.logging.node.add_dependency(self.log_group)
