"""The API Lambda against moto's Step Functions, executing a small state machine for real."""

from __future__ import annotations

import json
import time
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from bedrock_pipeline.aws.retry import Backoff
from bedrock_pipeline.contract import Route
from bedrock_pipeline.run_spec import RunSpec
from lambdas.api import handler as api_handler
from lambdas.api import runs
from tests.support.api import (
    StepFunctions,
    bedrock_doc,
    container_doc,
    import_doc,
    unique,
)


def call(
    sfn: StepFunctions,
    method: str,
    resource: str,
    *,
    run_name: str | None = None,
    query: dict[str, str] | None = None,
    body: Any = None,
    allowed_base_models: tuple[str, ...] = (),
) -> tuple[int, dict[str, Any]]:
    event = {
        "resource": str(resource),
        "httpMethod": method,
        "pathParameters": {"runName": run_name} if run_name is not None else None,
        "queryStringParameters": query,
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r1", "identity": {"userArn": "arn:aws:iam::1:user/ana"}},
    }
    response = api_handler.dispatch(
        event,
        sfn=sfn.client,
        state_machine_arn=sfn.state_machine_arn,
        allowed_base_models=allowed_base_models,
    )
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def settled(sfn: StepFunctions, name: str) -> dict[str, Any]:
    """GET the run once the emulator's execution thread reached the state it waits in."""
    deadline = time.monotonic() + 10
    while True:
        _, body = call(sfn, "GET", Route.RUN, run_name=name)
        if (
            body["currentStep"] in ("WaitForCustomizationJob", "Done")
            or time.monotonic() > deadline
        ):
            return body
        time.sleep(0.02)


def executions_named(sfn: StepFunctions, name: str) -> list[dict[str, Any]]:
    listed = sfn.client.list_executions(stateMachineArn=sfn.state_machine_arn)["executions"]
    return [e for e in listed if e["name"] == name]


def test_start_creates_one_execution_with_the_normalized_document(stepfunctions):
    name = unique("start")
    status, body = call(stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name))
    assert status == 201
    assert body["runName"] == name and body["status"] == "RUNNING"
    described = stepfunctions.client.describe_execution(executionArn=body["executionArn"])
    assert (
        json.loads(described["input"]) == RunSpec.model_validate(bedrock_doc(name)).workflow_input()
    )


def test_repeat_of_the_same_document_returns_the_existing_run(stepfunctions):
    name = unique("repeat")
    _, first = call(stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name))
    settled(stepfunctions, name)
    # The same run, with a default spelled out: still the same normalized document.
    status, again = call(
        stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name, trainer="bedrock")
    )
    assert status == 200
    assert again["executionArn"] == first["executionArn"]
    assert again["currentStep"] == "WaitForCustomizationJob"
    assert len(executions_named(stepfunctions, name)) == 1


def test_different_document_under_a_taken_name_is_a_conflict(stepfunctions):
    name = unique("conflict")
    call(stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name))
    other = bedrock_doc(name, trainingDataUri="s3://team-data/other.jsonl")
    status, body = call(stepfunctions, "POST", Route.RUNS, body=other)
    assert status == 409 and body["error"] == "RUN_CONFLICT"
    assert name in body["message"]
    assert len(executions_named(stepfunctions, name)) == 1


def test_finished_run_is_returned_for_its_document_and_conflicts_for_another(stepfunctions):
    name = unique("finished")
    _, started = call(stepfunctions, "POST", Route.RUNS, body=import_doc(name))
    stepfunctions.wait_until(started["executionArn"], {"SUCCEEDED"})
    status, body = call(stepfunctions, "POST", Route.RUNS, body=import_doc(name))
    assert (status, body["status"]) == (200, "SUCCEEDED")
    status, body = call(stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name))
    assert (status, body["error"]) == (409, "RUN_CONFLICT")


def test_every_invalid_field_is_named(stepfunctions):
    doc = {
        "runName": "has spaces",
        "baseModelId": "",
        "trainer": "gpu",
        "trainingDataUri": "https://example.com/x.jsonl",
        "colour": "blue",
    }
    status, body = call(stepfunctions, "POST", Route.RUNS, body=doc)
    assert (status, body["error"]) == (400, "VALIDATION_FAILED")
    named = {f["field"] for f in body["fields"]}
    assert named == {"runName", "baseModelId", "trainer", "trainingDataUri", "colour"}
    assert all(f["message"] for f in body["fields"])


def test_every_invalid_combination_is_named(stepfunctions):
    doc = import_doc(unique("combo"))
    del doc["modelDataUri"]
    doc["trainingDataUri"] = "s3://team-data/train.jsonl"
    status, body = call(stepfunctions, "POST", Route.RUNS, body=doc)
    assert status == 400
    assert {f["field"] for f in body["fields"]} == {"modelDataUri", "trainingDataUri"}


def test_nested_field_errors_carry_their_path(stepfunctions):
    doc = container_doc(unique("nested"))
    doc["container"]["instanceCount"] = 0
    status, body = call(stepfunctions, "POST", Route.RUNS, body=doc)
    assert status == 400
    assert [f["field"] for f in body["fields"]] == ["container.instanceCount"]


@pytest.mark.parametrize("raw", ["", "{not json", "[1, 2]", '"a string"'])
def test_a_body_that_is_not_a_json_object_is_rejected(stepfunctions, raw):
    status, body = call(stepfunctions, "POST", Route.RUNS, body=raw)
    assert (status, body["error"]) == (400, "INVALID_JSON")


def test_unknown_run_is_404(stepfunctions):
    for method, route in (("GET", Route.RUN), ("POST", Route.STOP)):
        status, body = call(stepfunctions, method, route, run_name="never-started")
        assert (status, body["error"]) == (404, "RUN_NOT_FOUND")


def test_status_of_a_running_run_names_its_current_step(stepfunctions):
    name = unique("running")
    call(stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name))
    body = settled(stepfunctions, name)
    assert (body["status"], body["currentStep"]) == ("RUNNING", "WaitForCustomizationJob")
    assert body["startedAt"] and body["stoppedAt"] is None


def test_succeeded_run_reports_outputs_and_failed_run_its_reason(stepfunctions):
    ok, bad = unique("ok"), unique("bad")
    for doc in (import_doc(ok), container_doc(bad)):
        _, started = call(stepfunctions, "POST", Route.RUNS, body=doc)
        stepfunctions.wait_until(started["executionArn"], {"SUCCEEDED", "FAILED"})
    _, body = call(stepfunctions, "GET", Route.RUN, run_name=ok)
    assert body["status"] == "SUCCEEDED" and body["stoppedAt"]
    assert body["outcome"] == "SUCCEEDED"
    assert body["outputs"]["importedModelArn"].endswith("imported-model/abc")
    _, body = call(stepfunctions, "GET", Route.RUN, run_name=bad)
    assert body["status"] == "FAILED" and body["error"] == "TrainingJobFailed"
    assert "at least 8 are required" in body["cause"]


def test_run_names_outside_execution_name_characters_round_trip(stepfunctions):
    name = unique("team.v2")  # '.' is not allowed in execution names: the name is derived
    _, started = call(stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name))
    assert not started["executionArn"].endswith(name)
    _, body = call(stepfunctions, "GET", Route.RUN, run_name=name)
    assert body["runName"] == name
    _, page = call(stepfunctions, "GET", Route.RUNS, query={"limit": "100"})
    assert name in {r["runName"] for r in page["runs"]}


def test_list_pages_through_every_run_newest_first(stepfunctions):
    names = [unique("page") for _ in range(5)]
    for name in names:
        call(stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name))
    seen: list[str] = []
    query: dict[str, str] = {"limit": "2", "status": "RUNNING"}
    while True:
        status, page = call(stepfunctions, "GET", Route.RUNS, query=query)
        assert status == 200 and len(page["runs"]) <= 2
        assert {r["status"] for r in page["runs"]} <= {"RUNNING"}
        seen += [r["runName"] for r in page["runs"]]
        if not page["nextToken"]:
            break
        query = {**query, "nextToken": page["nextToken"]}
    assert len(seen) == len(set(seen))
    assert [n for n in seen if n in names] == names[::-1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "DONE"}, "status"),
        ({"nextToken": "x" * 4000}, "nextToken"),
        ({"page": "2"}, "page"),
    ],
)
def test_bad_list_parameters_are_named(stepfunctions, query, field):
    status, body = call(stepfunctions, "GET", Route.RUNS, query=query)
    assert (status, body["error"]) == (400, "INVALID_PARAMETER")
    assert [f["field"] for f in body["fields"]] == [field]


def test_stop_aborts_a_running_run_once(stepfunctions):
    name = unique("stop")
    _, started = call(stepfunctions, "POST", Route.RUNS, body=bedrock_doc(name))
    stepfunctions.settle(name)
    status, body = call(stepfunctions, "POST", Route.STOP, run_name=name)
    assert status == 202 and body["status"] in ("RUNNING", "ABORTED")  # the emulator is async
    assert stepfunctions.wait_until(started["executionArn"], {"ABORTED"})["status"] == "ABORTED"
    status, body = call(stepfunctions, "POST", Route.STOP, run_name=name)
    assert (status, body["status"]) == (200, "ABORTED")


def test_stop_of_a_finished_run_is_a_conflict(stepfunctions):
    name = unique("done")
    _, started = call(stepfunctions, "POST", Route.RUNS, body=import_doc(name))
    stepfunctions.wait_until(started["executionArn"], {"SUCCEEDED"})
    status, body = call(stepfunctions, "POST", Route.STOP, run_name=name)
    assert (status, body["error"]) == (409, "RUN_NOT_RUNNING")


def test_unknown_routes_and_methods(stepfunctions):
    assert call(stepfunctions, "DELETE", Route.RUN, run_name="x")[0] == 405
    assert call(stepfunctions, "GET", "/models")[0] == 404


class _Throttled:
    """A Step Functions client that is always throttled (or always denied)."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        def fail(**_: Any) -> Any:
            self.calls += 1
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, name)

        return fail


def test_persistent_throttling_becomes_429_after_retries(monkeypatch):
    monkeypatch.setattr(runs, "RETRY_BACKOFF", Backoff(attempts=3, base_s=0, cap_s=0))
    sfn = _Throttled("ThrottlingException")
    fake = StepFunctions(sfn, "arn:aws:states:us-east-1:123456789012:stateMachine:m")
    status, body = call(fake, "GET", Route.RUN, run_name="r")
    assert (status, body["error"]) == (429, "THROTTLED")
    assert sfn.calls == 3


def test_unexpected_errors_are_500_without_details(monkeypatch):
    sfn = _Throttled("AccessDeniedException")
    fake = StepFunctions(sfn, "arn:aws:states:us-east-1:123456789012:stateMachine:m")
    status, body = call(fake, "GET", Route.RUN, run_name="r")
    assert (status, body["error"]) == (500, "INTERNAL")
    assert "AccessDenied" not in body["message"]
    assert sfn.calls == 1  # access errors are not retried


def test_lambda_entry_point(stepfunctions, monkeypatch):
    monkeypatch.setenv("STATE_MACHINE_ARN", stepfunctions.state_machine_arn)
    api_handler._sfn.cache_clear()
    api_handler._environment.cache_clear()
    name = unique("lambda")

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "api", 256, "req-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"

    event = {"resource": Route.RUNS, "httpMethod": "POST", "body": json.dumps(bedrock_doc(name))}
    response = api_handler.handler(event, cast(LambdaContext, Context()))
    assert response["statusCode"] == 201
    assert json.loads(response["body"])["runName"] == name


def test_the_entry_point_reads_the_stage_base_models_from_its_environment(
    stepfunctions, monkeypatch
):
    monkeypatch.setenv("STATE_MACHINE_ARN", stepfunctions.state_machine_arn)
    monkeypatch.setenv("ALLOWED_BASE_MODELS", "amazon.titan-text-lite-v1:0:4k")
    api_handler._sfn.cache_clear()

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "api", 256, "req-2"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"

    refused = bedrock_doc(unique("env"), baseModelId="meta.llama3-1-70b-instruct-v1:0:128k")
    event = {"resource": Route.RUNS, "httpMethod": "POST", "body": json.dumps(refused)}
    response = api_handler.handler(event, cast(LambdaContext, Context()))
    assert response["statusCode"] == 400
    assert "titan-text-lite" in json.loads(response["body"])["fields"][0]["message"]


def test_base_models_outside_the_stage_list_are_refused(stepfunctions):
    allowed = ("amazon.titan-text-lite-v1:0:4k", "meta.llama3-2-1b-instruct-v1:0:128k")
    ok = bedrock_doc(unique("allowed"))
    assert call(stepfunctions, "POST", Route.RUNS, body=ok, allowed_base_models=allowed)[0] == 201
    refused = bedrock_doc(unique("refused"), baseModelId="meta.llama3-1-70b-instruct-v1:0:128k")
    status, body = call(
        stepfunctions, "POST", Route.RUNS, body=refused, allowed_base_models=allowed
    )
    assert status == 400 and [f["field"] for f in body["fields"]] == ["baseModelId"]
    assert "titan-text-lite" in body["fields"][0]["message"]
    assert executions_named(stepfunctions, refused["runName"]) == []
    # Container and import runs name their own weights: the stage's list does not apply.
    own = {**import_doc(unique("own")), "baseModelId": "meta.llama3-1-70b-instruct-v1:0:128k"}
    assert call(stepfunctions, "POST", Route.RUNS, body=own, allowed_base_models=allowed)[0] == 201
