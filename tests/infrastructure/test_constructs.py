"""Construct-level properties, each construct alone in a tiny stack (``aws_cdk.assertions``).

The whole-assembly tests read both stages as deployed; these pin what one construct promises
whatever stack it is put in: rotating keys usable only through the named services, a network
with no route out, a function that is encrypted, traced, in the VPC and bounded.
"""

from __future__ import annotations

from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from bedrock_pipeline.contract import Service
from stacks.config import load_stage
from stacks.constructs.encryption import DATA_KEY_SERVICES, MODEL_KEY_SERVICES, ProjectKeys
from stacks.constructs.function import PipelineFunction
from stacks.constructs.network import INTERFACE_ENDPOINTS, PrivateNetwork
from stacks.pipeline_app import file_context

DEV = load_stage("dev")
CIDR = "10.42.0.0/16"


def _stack() -> Stack:
    # The dev stage's account and region, so the committed lookups (AZs, S3 prefix list) apply.
    app = App(context=file_context())
    return Stack(app, "Tiny", env=Environment(account=DEV.account, region=DEV.region))


def _network(stack: Stack, key: kms.IKey) -> PrivateNetwork:
    return PrivateNetwork(
        stack,
        "Network",
        cidr=CIDR,
        az_count=2,
        log_key=key,
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )


def test_keys_rotate_and_are_used_only_through_the_named_services() -> None:
    stack = _stack()
    ProjectKeys(
        stack, "Keys", prefix="bcp-t", admin_principal_arns=(), removal_policy=RemovalPolicy.RETAIN
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::KMS::Key", 2)
    keys = template.find_resources("AWS::KMS::Key")
    assert all(k["Properties"]["EnableKeyRotation"] is True for k in keys.values())
    assert all(k["DeletionPolicy"] == "Retain" for k in keys.values())
    for alias in ("alias/bcp-t/data", "alias/bcp-t/models"):
        template.has_resource_properties("AWS::KMS::Alias", {"AliasName": alias})
    for services in (DATA_KEY_SERVICES, MODEL_KEY_SERVICES):
        via = [f"{s}.{DEV.region}.amazonaws.com" for s in services]
        template.has_resource_properties(
            "AWS::KMS::Key",
            {
                "KeyPolicy": {
                    "Statement": Match.array_with([
                        Match.object_like({
                            "Sid": "UseThroughAwsServicesByProjectPrincipals",
                            "Condition": Match.object_like({
                                "StringEquals": {
                                    "kms:CallerAccount": DEV.account,
                                    "kms:ViaService": via,
                                },
                            }),
                        })
                    ])
                }
            },
        )  # fmt: skip
    for key in keys.values():  # the root administers the key; it never decrypts without a service
        admin = next(
            s
            for s in key["Properties"]["KeyPolicy"]["Statement"]
            if s["Sid"] == "KeyAdministration"
        )
        assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(admin["Action"])


def test_network_has_no_route_out_and_an_endpoint_per_service() -> None:
    stack = _stack()
    _network(stack, kms.Key(stack, "Key"))
    template = Template.from_stack(stack)
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        template.resource_count_is(kind, 0)
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(not s["Properties"]["MapPublicIpOnLaunch"] for s in subnets.values())
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})
    endpoints = template.find_resources(
        "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}}
    )
    assert len(endpoints) == len(INTERFACE_ENDPOINTS)
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in endpoints.values())
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "VPC interface endpoints: HTTPS from inside the VPC only",
            "SecurityGroupIngress": [
                Match.object_like({"CidrIp": CIDR, "FromPort": 443, "ToPort": 443})
            ],
            # allow_all_outbound=False: CDK's placeholder rule that matches no traffic
            "SecurityGroupEgress": [Match.object_like({"CidrIp": "255.255.255.255/32"})],
        },
    )


def test_pipeline_function_is_encrypted_traced_private_and_bounded() -> None:
    stack = _stack()
    key = kms.Key(stack, "Key")
    network = _network(stack, key)
    layer = lambda_.LayerVersion.from_layer_version_arn(
        stack, "Layer", f"arn:aws:lambda:{DEV.region}:{DEV.account}:layer:deps:1"
    )
    PipelineFunction(
        stack,
        "Validate",
        handler="lambdas.validate.handler.handler",
        description="validate",
        layer=layer,
        vpc=network.vpc,
        security_group=network.workload_security_group,
        key=key,
        log_retention=logs.RetentionDays.ONE_MONTH,
        reserved_concurrency=3,
        service_name=Service.VALIDATE,
    )
    template = Template.from_stack(stack)
    key_arn = stack.resolve(key.key_arn)  # {"Fn::GetAtt": [<key's logical id>, "Arn"]}
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "lambdas.validate.handler.handler",
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "TracingConfig": {"Mode": "Active"},
            "KmsKeyArn": key_arn,
            "ReservedConcurrentExecutions": 3,
            "DeadLetterConfig": {"TargetArn": Match.any_value()},
            "VpcConfig": {
                "SubnetIds": Match.any_value(),
                "SecurityGroupIds": [Match.any_value()],
            },
            "Environment": {
                "Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": "validate"})
            },
        },
    )
    template.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": key_arn})
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": key_arn, "RetentionInDays": 30}
    )
    # The role writes only to its own log group (and its streams).
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [
        s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (own_logs,) = [s for s in statements if s.get("Sid") == "WriteOwnLogs"]
    assert own_logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert len(own_logs["Resource"]) == 2
