"""Security properties of the synthesized trigger API: the dev stage as deployed (REGIONAL, WAF)
and a PRIVATE variant (VPC endpoint, no WAF), both through every cdk-nag pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.contract import OUTPUT_API_KEY_ID, OUTPUT_API_URL, STAGE_NAME
from bedrock_pipeline.run_spec import api_gateway_schema
from stacks.config import StageConfig, load_stage
from tests.api.harness import synthesize_api

Template = dict[str, Any]


def of_type(template: Template, type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def one(template: Template, type_: str) -> tuple[str, dict[str, Any]]:
    found = of_type(template, type_)
    assert len(found) == 1, f"{len(found)} resources of type {type_}"
    return next(iter(found.items()))


@pytest.fixture(scope="session")
def dev_config() -> StageConfig:
    return load_stage("dev")


@pytest.fixture(scope="session")
def regional(dev_assembly: Any) -> Template:
    """The workflow stack of the dev stage, where the API lives."""
    template: Template = dev_assembly.template("-workflow")
    return template


@pytest.fixture(scope="session")
def private(dev_config: StageConfig, tmp_path_factory: pytest.TempPathFactory) -> Template:
    api = dev_config.api.model_copy(update={"endpoint_type": "PRIVATE", "waf_enabled": False})
    config = dev_config.model_copy(update={"api": api})
    return synthesize_api(config, Path(tmp_path_factory.mktemp("cdk-private-api")))


@pytest.fixture(params=["regional", "private"])
def template(request: pytest.FixtureRequest) -> Template:
    return request.getfixturevalue(request.param)


def api_role_statements(template: Template) -> list[dict[str, Any]]:
    (function_id, function) = next(
        (k, v)
        for k, v in of_type(template, "AWS::Lambda::Function").items()
        if v["Properties"].get("Handler") == "lambdas.api.handler.handler"
    )
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    assert function_id and policies
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_every_method_requires_sigv4_and_the_api_key(template: Template):
    methods = of_type(template, "AWS::ApiGateway::Method")
    assert len(methods) == 4
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        assert method["Properties"]["ApiKeyRequired"] is True


def test_request_validator_and_the_generated_model_are_attached(template: Template):
    validator_id, validator = one(template, "AWS::ApiGateway::RequestValidator")
    assert validator["Properties"]["ValidateRequestBody"] is True
    model_id, model = one(template, "AWS::ApiGateway::Model")
    # Generated from the pydantic model, never a second hand-written schema.
    assert model["Properties"]["Schema"] == api_gateway_schema()
    methods = of_type(template, "AWS::ApiGateway::Method").values()
    assert all(m["Properties"]["RequestValidatorId"] == {"Ref": validator_id} for m in methods)
    posts = [
        m
        for m in methods
        if m["Properties"]["HttpMethod"] == "POST" and m["Properties"].get("RequestModels")
    ]
    assert [p["Properties"]["RequestModels"] for p in posts] == [
        {"application/json": {"Ref": model_id}}
    ]


def test_stage_throttles_logs_and_traces(regional: Template, dev_config: StageConfig):
    _, stage = one(regional, "AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["StageName"] == STAGE_NAME and props["TracingEnabled"] is True
    (settings,) = props["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["ThrottlingRateLimit"] == dev_config.api.throttle_rate_limit
    assert settings["ThrottlingBurstLimit"] == dev_config.api.throttle_burst_limit
    assert settings["LoggingLevel"] == "INFO" and settings["DataTraceEnabled"] is False
    access = props["AccessLogSetting"]
    fields = json.loads(access["Format"])
    assert fields["requestId"] == "$context.requestId" and "userArn" in fields
    (group_ref,) = [p for p in access["DestinationArn"]["Fn::Join"][1] if isinstance(p, dict)]
    log_group = regional["Resources"][group_ref["Ref"]]
    assert "KmsKeyId" in log_group["Properties"] and "RetentionInDays" in log_group["Properties"]


def test_execution_logs_group_exists_encrypted_before_the_stage(regional: Template):
    groups = {
        k: v
        for k, v in of_type(regional, "AWS::Logs::LogGroup").items()
        if "API-Gateway-Execution-Logs_" in json.dumps(v["Properties"].get("LogGroupName", ""))
    }
    ((group_id, group),) = groups.items()
    assert f"/{STAGE_NAME}" in json.dumps(group["Properties"]["LogGroupName"])
    assert "KmsKeyId" in group["Properties"]
    _, stage = one(regional, "AWS::ApiGateway::Stage")
    assert group_id in stage.get("DependsOn", [])


def test_usage_plan_sets_the_daily_quota_for_the_api_key(regional: Template, dev_config):
    _, plan = one(regional, "AWS::ApiGateway::UsagePlan")
    assert plan["Properties"]["Quota"] == {"Limit": dev_config.api.quota_per_day, "Period": "DAY"}
    assert plan["Properties"]["Throttle"]["RateLimit"] == dev_config.api.throttle_rate_limit
    key_id, _ = one(regional, "AWS::ApiGateway::ApiKey")
    _, link = one(regional, "AWS::ApiGateway::UsagePlanKey")
    assert link["Properties"]["KeyId"] == {"Ref": key_id}
    assert {OUTPUT_API_URL, OUTPUT_API_KEY_ID} <= set(regional["Outputs"])


def test_api_role_can_start_describe_and_stop_only_this_state_machine(regional: Template):
    statements = [
        s
        for s in api_role_statements(regional)
        if any(a.startswith("states:") for a in _list(s["Action"]))
    ]
    (machine_id, _) = one(regional, "AWS::StepFunctions::StateMachine")
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {"StartAndListRuns", "DescribeAndStopRuns"}
    start = by_sid["StartAndListRuns"]
    assert set(_list(start["Action"])) == {"states:StartExecution", "states:ListExecutions"}
    assert start["Resource"] == {"Ref": machine_id}
    describe = by_sid["DescribeAndStopRuns"]
    assert set(_list(describe["Action"])) == {
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:StopExecution",
    }
    # arn:...:execution:<this machine's name>:*  -- the name, not a wildcard, precedes ':*'.
    parts = describe["Resource"]["Fn::Join"][1]
    assert {"Fn::GetAtt": [machine_id, "Name"]} in parts
    assert parts[-1] == ":*" and "execution" in "".join(p for p in parts if isinstance(p, str))
    assert all(s["Effect"] == "Allow" for s in statements)


def test_resource_policy_admits_only_the_stage_accounts(template: Template, dev_config):
    _, api = one(template, "AWS::ApiGateway::RestApi")
    statements = api["Properties"]["Policy"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1 and allow[0]["Action"] == "execute-api:Invoke"
    principal = json.dumps(allow[0]["Principal"])
    assert dev_config.account in principal and "*" not in principal


def test_regional_api_sits_behind_waf_with_redacted_logs(regional: Template):
    _, api = one(regional, "AWS::ApiGateway::RestApi")
    assert api["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    acl_id, acl = one(regional, "AWS::WAFv2::WebACL")
    assert acl["Properties"]["Scope"] == "REGIONAL"
    _, association = one(regional, "AWS::WAFv2::WebACLAssociation")
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert "restapis" in json.dumps(association["Properties"]["ResourceArn"])
    _, logging = one(regional, "AWS::WAFv2::LoggingConfiguration")
    redacted = {f["SingleHeader"]["Name"] for f in logging["Properties"]["RedactedFields"]}
    assert {"authorization", "x-api-key"} <= redacted


def test_private_api_is_reachable_only_through_its_vpc_endpoint(private: Template):
    endpoint_id, endpoint = one(private, "AWS::EC2::VPCEndpoint")
    assert "execute-api" in json.dumps(endpoint["Properties"]["ServiceName"])
    assert endpoint["Properties"]["PrivateDnsEnabled"] is True
    (allow,) = endpoint["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Action"] == "execute-api:Invoke"
    assert allow["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ["111111111111"]}}
    _, api = one(private, "AWS::ApiGateway::RestApi")
    config = api["Properties"]["EndpointConfiguration"]
    assert config == {"Types": ["PRIVATE"], "VpcEndpointIds": [{"Ref": endpoint_id}]}
    (deny,) = [s for s in api["Properties"]["Policy"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"StringNotEquals": {"aws:SourceVpce": {"Ref": endpoint_id}}}
    assert of_type(private, "AWS::WAFv2::WebACL") == {}


def test_gateway_errors_use_the_api_error_shape(template: Template):
    responses = of_type(template, "AWS::ApiGateway::GatewayResponse").values()
    assert {"THROTTLED", "QUOTA_EXCEEDED", "BAD_REQUEST_BODY", "ACCESS_DENIED"} <= {
        r["Properties"]["ResponseType"] for r in responses
    }
    for response in responses:
        body = response["Properties"]["ResponseTemplates"]["application/json"]
        rendered = body.replace("$context.error.messageString", '"a message"').replace(
            "$context.error.validationErrorString", "a validation message"
        )
        assert set(json.loads(rendered)) == {"error", "message"}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
