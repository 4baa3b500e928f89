"""Failure paths of the synthesized state machine: invalid input, failed and stuck jobs,
throttling, duplicate starts and cancellation; each must stop what the run started and say why.
"""

from __future__ import annotations

import pytest

from tests.support.workflow import Workflow
from tests.workflow.runs import (
    HAIKU,
    WEIGHTS,
    bedrock_run,
    created,
    prompt_completion,
    upload_weights,
)

# -- failures ----------------------------------------------------------------------------------


def test_invalid_dataset_fails_before_any_job(workflow: Workflow) -> None:
    uri = workflow.put_jsonl(
        "bad/train.jsonl", [{"prompt": "no messages here", "completion": "x"}] * 40
    )
    result = workflow.run({"runName": "bad-1", "baseModelId": HAIKU, "trainingDataUri": uri})
    assert result.status == "FAILED"
    assert result.error == "DatasetValidationError"
    cause = result.cause or ""
    assert "validation error" in cause and "validation-report.json" in cause
    assert created(workflow) == []
    (message,) = workflow.notifications()
    assert "bad-1: FAILED" in message and "validation error" in message


def test_invalid_run_document_names_the_field(workflow: Workflow) -> None:
    result = workflow.run(
        {
            "runName": "doc-1",
            "baseModelId": HAIKU,
            "customizationType": "DISTILLATION",
            "trainingDataUri": "s3://x-bucket/t.jsonl",
        }
    )
    assert result.status == "FAILED"
    assert result.error == "RunSpecError"
    assert (result.cause or "").startswith("teacherModelId: required")
    assert created(workflow) == []


def test_base_model_outside_the_stage_is_refused(workflow: Workflow) -> None:
    document = bedrock_run(workflow, "model-1", baseModelId="meta.llama3-3-70b-instruct-v1:0:128k")
    result = workflow.run(document)
    assert (result.status, result.error) == ("FAILED", "RunSpecError")
    assert "not enabled in this stage" in (result.cause or "")


def test_job_that_fails_surfaces_its_reason(workflow: Workflow) -> None:
    workflow.emulator.script(
        "customization",
        duration_s=7200,
        outcome="Failed",
        message="Training data has 3 records longer than the context window",
    )
    result = workflow.run(bedrock_run(workflow, "fails-1"))
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert "Training data has 3 records longer than the context window" in (result.cause or "")
    (event,) = workflow.run_events()
    assert event["detail-type"] == "Customization Run Failed"
    assert "longer than the context window" in event["detail"]["reason"]


def test_throttled_start_is_retried_and_starts_one_job(workflow: Workflow) -> None:
    workflow.emulator.throttle("bedrock", "CreateModelCustomizationJob", times=3)
    result = workflow.run(bedrock_run(workflow, "throttled-1"))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert (
        created(workflow).count("CreateModelCustomizationJob") == 4
    )  # three throttled, one accepted
    assert len(workflow.emulator.jobs) == 1


def test_duplicate_run_name_reaches_the_same_run_and_one_job(workflow: Workflow) -> None:
    document = bedrock_run(workflow, "dup-1")
    workflow.emulator.script("customization", duration_s=3600)
    workflow.emulator.hold_waits = True
    first = workflow.start(document)
    assert workflow.emulator.waiting.wait(30)
    second = workflow.start(document)  # same name, same input, still running: the same run
    assert second == first
    workflow.emulator.hold_waits = False
    assert workflow.wait(first).status == "SUCCEEDED"
    assert len(workflow.emulator.requests("bedrock", "CreateModelCustomizationJob")) == 1
    # Once it has ended, the name is taken: a new document must choose a new runName.
    changed = {**document, "hyperParameters": {"epochCount": 3}}
    with pytest.raises(workflow.sfn.exceptions.ExecutionAlreadyExists):
        workflow.start(changed)


def test_cancellation_stops_the_job(workflow: Workflow) -> None:
    workflow.emulator.script("customization", duration_s=86400)
    workflow.emulator.hold_waits = True
    arn = workflow.start(bedrock_run(workflow, "cancel-1"))
    assert workflow.emulator.waiting.wait(30)
    workflow.sfn.stop_execution(
        executionArn=arn, error="RunCancelled", cause="stopped through the API"
    )
    workflow.emulator.hold_waits = False
    result = workflow.wait(arn)
    assert result.status == "ABORTED"
    job = workflow.emulator.job("customization")
    assert job.stopped
    assert workflow.emulator.requests("bedrock", "StopModelCustomizationJob") == [
        {"jobIdentifier": job.name}
    ]
    (event,) = workflow.run_events()
    assert event["detail"]["outcome"] == "ABORTED" and event["detail"]["runName"] == "cancel-1"


def test_job_running_past_the_timeout_is_stopped(workflow: Workflow) -> None:
    workflow.emulator.script("training", duration_s=30 * 86400)  # never ends within 7 days
    train = workflow.put_jsonl("slow/train.jsonl", prompt_completion(5))
    base = upload_weights(workflow, "weights/slow/", WEIGHTS)
    result = workflow.run(
        {
            "runName": "slow-1",
            "baseModelId": "container/llama3",
            "trainer": "container",
            "trainingDataUri": train,
            "container": {"baseWeightsUri": base},
        }
    )
    assert result.status == "FAILED"
    assert result.error == "JobTimedOut"
    assert "604800 s (poll.timeout_s)" in (result.cause or "")
    assert workflow.emulator.job("training").stopped
    assert created(workflow) == ["CreateTrainingJob"]
