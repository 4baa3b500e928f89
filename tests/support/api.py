"""Helpers of the trigger API tests (data, fakes, typed handles); the fixtures that use
them live in tests/api/conftest.py."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import boto3

DEFINITION = {
    "StartAt": "ValidateDataset",
    "States": {
        "ValidateDataset": {"Type": "Pass", "Next": "ChooseTrainer"},
        "ChooseTrainer": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.evaluation", "IsPresent": True, "Next": "NotPromoted"},
                {"Variable": "$.trainer", "StringEquals": "import", "Next": "ImportModel"},
                {"Variable": "$.trainer", "StringEquals": "container", "Next": "TrainingFailed"},
            ],
            "Default": "WaitForCustomizationJob",
        },
        "WaitForCustomizationJob": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        # The workflow ends with its result summary (lambdas/notify/logic.py: summarize).
        "ImportModel": {
            "Type": "Pass",
            "Result": {
                "outcome": "SUCCEEDED",
                "outputs": {
                    "importedModelArn": "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc"
                },
            },
            "Next": "Done",
        },
        "NotPromoted": {
            "Type": "Pass",
            "Result": {
                "outcome": "NOT_PROMOTED",
                "reason": "F1 gain 0.004 is below the stage's minimum 0.02",
                "outputs": {"evaluation": {"decision": "not-promoted"}},
            },
            "Next": "Done",
        },
        "TrainingFailed": {
            "Type": "Fail",
            "Error": "TrainingJobFailed",
            "Cause": "ClientError: the training data has 3 records; at least 8 are required",
        },
        "Done": {"Type": "Succeed"},
    },
}


KEY_ID, SECRET, API_KEY = "AKIDCALLER", "caller-secret", "usage-plan-key"


MODEL = "meta.llama3-2-1b-instruct-v1:0:128k"


_ids = itertools.count()


def unique(prefix: str) -> str:
    """Run names differ per test: fixtures share one emulated account per module."""
    return f"{prefix}-{next(_ids)}"


def bedrock_doc(run_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "runName": run_name,
        "baseModelId": MODEL,
        "trainingDataUri": "s3://team-data/train.jsonl",
        **extra,
    }


def import_doc(run_name: str) -> dict[str, Any]:
    return {
        "runName": run_name,
        "baseModelId": MODEL,
        "trainer": "import",
        "modelDataUri": "s3://team-data/weights/",
    }


def evaluated_doc(run_name: str) -> dict[str, Any]:
    evaluation = {
        "testDataUri": "s3://team-data/test.jsonl",
        "baseModelId": "us.meta.llama3-2-1b-instruct-v1:0",
    }
    return {**import_doc(run_name), "evaluation": evaluation}


def container_doc(run_name: str) -> dict[str, Any]:
    return {
        "runName": run_name,
        "baseModelId": MODEL,
        "trainer": "container",
        "trainingDataUri": "s3://team-data/train.jsonl",
        "container": {"baseWeightsUri": "s3://team-data/base/"},
    }


@dataclass(frozen=True)
class StepFunctions:
    client: Any
    state_machine_arn: str

    def wait_until(
        self, execution_arn: str, statuses: set[str], timeout_s: float = 10
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            described: dict[str, Any] = self.client.describe_execution(executionArn=execution_arn)
            if described["status"] in statuses or time.monotonic() > deadline:
                return described
            time.sleep(0.02)

    def settle(self, run_name: str, timeout_s: float = 10) -> None:
        """Wait until the emulator's worker has entered a state: moto fails StopExecution on an
        execution whose worker has not started yet (AWS does not)."""
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{run_name}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            events = self.client.get_execution_history(executionArn=arn)["events"]
            if any(e["type"] == "WaitStateEntered" for e in events):
                return
            time.sleep(0.02)


def session(secret: str = SECRET) -> boto3.session.Session:
    """The caller's credentials: a key the gateway knows (with the right secret, or not)."""
    return boto3.session.Session(
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=secret,
        aws_session_token="session-token",
        region_name="us-east-1",
    )
