"""The trigger API: a REST API over one Lambda that starts, describes and stops runs.

Every method requires SigV4 (AWS_IAM) and the usage plan's API key (the daily quota is counted
per key; the key identifies, IAM authorizes). The gateway validates bodies against a request
model generated from the run document's pydantic model (``api_gateway_schema``), so the gateway
and the Lambda can never disagree about the fields. A resource policy admits only the configured
accounts and, for a PRIVATE endpoint, only the execute-api VPC endpoint. Access logs are JSON in
a KMS-encrypted group; execution logs go to a group created here (encrypted, with retention)
rather than the one API Gateway would create on its own; X-Ray traces every stage.
"""

from __future__ import annotations

import json

from aws_cdk import Arn, ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from bedrock_pipeline.contract import (
    OUTPUT_API_KEY_ID,
    OUTPUT_API_URL,
    STAGE_NAME,
    ApiEnv,
    Route,
    Service,
)
from bedrock_pipeline.run_spec import api_gateway_schema
from stacks.config import StageConfig
from stacks.constructs.api_firewall import ApiFirewall
from stacks.constructs.api_formats import ACCESS_LOG_FORMAT, GATEWAY_ERRORS
from stacks.constructs.function import PipelineFunction
from stacks.constructs.network import PrivateNetwork
from stacks.constructs.secure_defaults import encrypted_log_group
from stacks.nag import acknowledge, acknowledge_compliance, acknowledge_wildcard_resources


class TriggerApi(Construct):
    """The IAM-authorized REST API and its handler function (``lambdas.api``).

    ``config``: the stage (``api``: endpoint type, throttle rate in requests per second and
    burst, daily quota per key, allowed accounts, WAF); ``state_machine``: the workflow the API
    starts, reads and stops; ``layer``, ``network``, ``key``, ``log_retention`` and
    ``removal_policy`` as for every ``PipelineFunction`` (also the access and execution logs')."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        state_machine: sfn.IStateMachine,
        layer: lambda_.ILayerVersion,
        network: PrivateNetwork,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        api_config = config.api
        self.handler = PipelineFunction(
            self,
            "Handler",
            handler="lambdas.api.handler.handler",
            description="Trigger API: start, describe, list and stop workflow runs",
            layer=layer,
            vpc=network.vpc,
            security_group=network.workload_security_group,
            key=key,
            log_retention=log_retention,
            reserved_concurrency=config.lambda_reserved_concurrency,
            environment={
                ApiEnv.STATE_MACHINE_ARN: state_machine.state_machine_arn,
                ApiEnv.ALLOWED_BASE_MODELS: ",".join(config.allowed_base_models),
            },
            # API Gateway waits 29 s for an integration; the Lambda must answer before that.
            timeout=Duration.seconds(28),
            memory_size=256,
            service_name=Service.API,
            removal_policy=removal_policy,
        )
        self._grant_runs(state_machine, key)

        self.vpc_endpoint: ec2.InterfaceVpcEndpoint | None = None
        if api_config.endpoint_type == "PRIVATE":
            self.vpc_endpoint = ec2.InterfaceVpcEndpoint(
                self,
                "ExecuteApiEndpoint",
                vpc=network.vpc,
                service=ec2.InterfaceVpcEndpointAwsService.APIGATEWAY,
                private_dns_enabled=True,
                security_groups=[network.endpoint_security_group],
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                open=False,
            )
            # Only invocations of this account's APIs by the allowed accounts' principals (the
            # API's own id would make a cycle: the API names the endpoint).
            stack = Stack.of(self)
            self.vpc_endpoint.add_to_policy(
                iam.PolicyStatement(
                    sid="InvokeThisAccountsApis",
                    principals=[iam.AnyPrincipal()],
                    actions=["execute-api:Invoke"],
                    resources=[
                        f"arn:{stack.partition}:execute-api:{stack.region}:{stack.account}:*"
                    ],
                    conditions={"StringEquals": {"aws:PrincipalAccount": _accounts(config)}},
                )
            )

        self.access_logs = encrypted_log_group(
            self,
            "AccessLogs",
            key=key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{config.prefix}-runs",
            description="Bedrock customization pipeline: start, watch and stop runs (SigV4)",
            endpoint_configuration=apigw.EndpointConfiguration(
                types=[apigw.EndpointType(api_config.endpoint_type)],
                vpc_endpoints=[self.vpc_endpoint] if self.vpc_endpoint else None,
            ),
            policy=self._resource_policy(config),
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM, api_key_required=True
            ),
            cloud_watch_role=False,  # _logging_role: the same, with a confused-deputy condition
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=api_config.throttle_rate_limit,
                throttling_burst_limit=api_config.throttle_burst_limit,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # full bodies would copy run documents into logs
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
            ),
            fail_on_warnings=True,
        )
        self.stage = self.api.deployment_stage
        self._logging_role()
        self.execution_logs = encrypted_log_group(
            self,
            "ExecutionLogs",
            # The name API Gateway writes to: created here first so it is encrypted and expires.
            name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{STAGE_NAME}",
            key=key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        self.stage.node.add_dependency(self.execution_logs)
        self._routes()
        for response_type, (status, code, message) in GATEWAY_ERRORS.items():
            self.api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=status,
                templates={"application/json": f'{{"error":"{code}","message":{message}}}'},
            )
        self._usage_plan(config)
        self.web_acl: ApiFirewall | None = None
        if api_config.endpoint_type == "REGIONAL" and api_config.waf_enabled:
            self.web_acl = ApiFirewall(
                self,
                "Firewall",
                prefix=config.prefix,
                stage=self.stage,
                key=key,
                log_retention=log_retention,
                removal_policy=removal_policy,
                # One source address may not use more than the whole stage's sustained rate.
                rate_limit_per_5_min=max(100, int(api_config.throttle_rate_limit * 300)),
            )
        url = CfnOutput(self, "Url", value=self.api.url, description="Trigger API base URL")
        url.override_logical_id(OUTPUT_API_URL)
        acknowledge_findings(self, waf=self.web_acl is not None)

    def _logging_role(self) -> None:
        """The account-wide role API Gateway writes execution logs with: a regional singleton
        (AWS::ApiGateway::Account), kept when the stack goes, as other APIs may rely on it."""
        stack = Stack.of(self)
        self.logging_role = iam.Role(
            self,
            "GatewayLogsRole",
            assumed_by=iam.ServicePrincipal(
                "apigateway.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
            description="API Gateway account setting: writes REST API execution logs",
        )
        self.logging_role.apply_removal_policy(RemovalPolicy.RETAIN)
        account = apigw.CfnAccount(
            self, "GatewayAccount", cloud_watch_role_arn=self.logging_role.role_arn
        )
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        self.stage.node.add_dependency(account)

    def _routes(self) -> None:
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        self.model = apigw.CfnModel(
            self,
            "RunDocumentModel",
            rest_api_id=self.api.rest_api_id,
            name="RunDocument",
            content_type="application/json",
            description="The run document (bedrock_pipeline/run_spec.py), as JSON schema draft 4",
            schema=api_gateway_schema(),
        )
        # A deployment snapshots the models: a changed schema must make a new deployment.
        assert self.api.latest_deployment is not None  # deploy=True, the default
        self.api.latest_deployment.add_to_logical_id(api_gateway_schema())
        run_document = apigw.Model.from_model_name(self, "RunDocument", self.model.ref)
        integration = apigw.LambdaIntegration(self.handler.function, allow_test_invoke=False)
        runs = self.api.root.add_resource(Route.RUNS.strip("/"))
        runs.add_method(
            "POST",
            integration,
            request_validator=validator,
            request_models={"application/json": run_document},
        )
        runs.add_method(
            "GET",
            integration,
            request_validator=validator,
            request_parameters={
                f"method.request.querystring.{q}": False for q in ("limit", "status", "nextToken")
            },
        )
        run = runs.add_resource("{runName}")
        path = {"method.request.path.runName": True}
        run.add_method("GET", integration, request_validator=validator, request_parameters=path)
        run.add_resource("stop").add_method(
            "POST", integration, request_validator=validator, request_parameters=path
        )

    def _resource_policy(self, config: StageConfig) -> iam.PolicyDocument:
        accounts = _accounts(config)
        statements = [
            iam.PolicyStatement(
                sid="AllowedAccounts",
                principals=[iam.AccountPrincipal(a) for a in accounts],
                actions=["execute-api:Invoke"],
                resources=["execute-api:/*"],
            )
        ]
        if self.vpc_endpoint is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="OnlyThroughTheVpcEndpoint",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["execute-api:Invoke"],
                    resources=["execute-api:/*"],
                    conditions={
                        "StringNotEquals": {"aws:SourceVpce": self.vpc_endpoint.vpc_endpoint_id}
                    },
                )
            )
        return iam.PolicyDocument(statements=statements)

    def _usage_plan(self, config: StageConfig) -> None:
        api_config = config.api
        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            name=f"{config.prefix}-runs",
            description="Per-key throttle and daily quota of the trigger API",
            throttle=apigw.ThrottleSettings(
                rate_limit=api_config.throttle_rate_limit,
                burst_limit=api_config.throttle_burst_limit,
            ),
            quota=apigw.QuotaSettings(limit=api_config.quota_per_day, period=apigw.Period.DAY),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.stage)],
        )
        self.api_key = apigw.ApiKey(
            self,
            "ApiKey",
            api_key_name=f"{config.prefix}-runs",
            description="Usage plan key of the trigger API (identifies callers; IAM authorizes)",
        )
        self.usage_plan.add_api_key(self.api_key)
        key_id = CfnOutput(
            self,
            "ApiKeyId",
            value=self.api_key.key_id,
            description="aws apigateway get-api-key --include-value --api-key <this id>",
        )
        key_id.override_logical_id(OUTPUT_API_KEY_ID)

    def _grant_runs(self, machine: sfn.IStateMachine, key: kms.IKey) -> None:
        """Start and list this state machine's executions; describe, read the history of and
        stop only its executions (execution ARNs embed the machine's name)."""
        stack = Stack.of(self)
        self.executions_arn = executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{_machine_name(machine)}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role = self.handler.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="StartAndListRuns",
                actions=["states:StartExecution", "states:ListExecutions"],
                resources=[machine.state_machine_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeAndStopRuns",
                actions=[
                    "states:DescribeExecution",
                    "states:GetExecutionHistory",
                    "states:StopExecution",
                ],
                resources=[executions],
            )
        )
        # The execution history is encrypted with the data key: starting a run encrypts its
        # input, describing it and reading its history decrypt (Step Functions Developer Guide,
        # "Data at rest encryption"). Only for this state machine, only through Step Functions.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunHistoryKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"states.{stack.region}.amazonaws.com",
                        "kms:EncryptionContext:aws:states:stateMachineArn": (
                            machine.state_machine_arn
                        ),
                    }
                },
            )
        )


def _accounts(config: StageConfig) -> list[str]:
    """Accounts whose principals may call the API (empty in the config: the stage's own)."""
    return list(config.api.allowed_account_ids) or [config.account]


def _machine_name(machine: sfn.IStateMachine) -> str:
    name = getattr(machine, "state_machine_name", None)
    if name is None:  # an imported machine: the name is the ARN's last field
        name = Arn.split(machine.state_machine_arn, ArnFormat.COLON_RESOURCE_NAME).resource_name
    if not name:
        raise ValueError(f"cannot tell the name of state machine {machine.node.path}")
    return str(name)


def acknowledge_findings(api: TriggerApi, *, waf: bool) -> None:
    """The trigger API's findings (stacks/constructs/api.py)."""
    for method in api.api.methods:
        acknowledge(
            method,
            "AwsSolutions-COG4",
            "Every method requires AWS_IAM (SigV4) authorization: the callers are applications "
            "and pipelines holding IAM roles, not end users with a Cognito user pool; the "
            "resource policy limits them to the stage's allowed accounts.",
        )
    acknowledge_compliance(
        api.stage,
        "APIGWCacheEnabledAndEncrypted",
        "No response caching: every answer is the live state of a run (status, current step), "
        "a cached answer would report a finished run as running; nothing is cached, so nothing "
        "needs encrypting at rest.",
    )
    acknowledge_compliance(
        api.stage,
        "APIGWSSLEnabled",
        "The rule asks for a client certificate that API Gateway presents to an HTTP backend. "
        "The only integration is the Lambda proxy (AWS_PROXY), invoked through the Lambda API "
        "with API Gateway's IAM permission over TLS; there is no HTTP backend to authenticate to. "
        "Clients reach the API over TLS only (execute-api endpoints serve HTTPS).",
    )
    acknowledge(
        api.logging_role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
        "API Gateway's account-level logging role is one per account and region, shared by every "
        "REST API there; AWS's managed policy is the documented one for it, and a policy scoped "
        "to this API's log groups would silently stop the execution logs of the account's other "
        "APIs.",
    )
    acknowledge_wildcard_resources(
        api.handler.role,
        [
            (
                r":states:[^:]+:[^:]+:execution:(<[^>]+\.Name>|[A-Za-z0-9_-]+):\*$",
                "Describe, read the history of and stop the executions of this one state "
                "machine (its name, not a wildcard, precedes ':*'): execution names are chosen "
                "per run at request time.",
            )
        ],
    )
    if not waf:
        acknowledge(
            api.stage,
            "AwsSolutions-APIG3",
            "WAF is disabled in this stage's configuration (api.waf_enabled=false, or a PRIVATE "
            "endpoint reachable only through the VPC endpoint): requests are still SigV4-"
            "authorized, throttled per stage and per key, and limited by the resource policy.",
        )
        for pack in ("NIST.800.53.R5", "PCI.DSS.321"):
            acknowledge(
                api.stage,
                f"{pack}-APIGWAssociatedWithWAF",
                "WAF is disabled in this stage's configuration (see AwsSolutions-APIG3): SigV4, "
                "the resource policy and the stage and key throttles still apply.",
            )
