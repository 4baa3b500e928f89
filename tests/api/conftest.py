"""Fixtures of the trigger API tests: moto's Step Functions executing a small state machine.

The machine stands in for the workflow by the inputs it branches on: with ``evaluation`` it
succeeds NOT_PROMOTED; else by ``trainer``: ``import`` succeeds at once with outputs,
``container`` fails with a reason, ``bedrock`` waits an hour in a named step (a run that stays
RUNNING until stopped).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.api.gateway import Gateway, serve
from tests.authorization import Ledger, check_scenario, recorder_for
from tools.audit.authz.calls import Authorizer

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
    return {**import_doc(run_name), "evaluation": {"testDataUri": "s3://team-data/test.jsonl"}}


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


@pytest.fixture(scope="module")
def stepfunctions() -> Iterator[StepFunctions]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(
            name="bcp-test-workflow",
            definition=json.dumps(DEFINITION),
            roleArn="arn:aws:iam::123456789012:role/bcp-test-workflow-role",
        )["stateMachineArn"]
        yield StepFunctions(client, arn)


@pytest.fixture(scope="module")
def gateway(stepfunctions: StepFunctions) -> Iterator[Gateway]:
    """The local API on 127.0.0.1, in front of the module's emulated Step Functions."""
    secrets = {KEY_ID: SECRET}
    with serve(
        Gateway(stepfunctions.client, stepfunctions.state_machine_arn, secrets, API_KEY)
    ) as gw:
        yield gw


def session(secret: str = SECRET) -> boto3.session.Session:
    """The caller's credentials: a key the gateway knows (with the right secret, or not)."""
    return boto3.session.Session(
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=secret,
        aws_session_token="session-token",
        region_name="us-east-1",
    )


@pytest.fixture(autouse=True)
def authorized_calls(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every AWS call the API handler makes in a test against the module's emulated Step
    Functions is checked against the dev stage's templates: the emulated state machine stands
    for the workflow's (names rewritten to the deployed ones)."""
    if "stepfunctions" not in request.fixturenames:
        yield
        return
    emulated: StepFunctions = request.getfixturevalue("stepfunctions")
    authorizer: Authorizer = request.getfixturevalue("dev_authorizer")
    ledger: Ledger = request.getfixturevalue("authorization_ledger")
    deployed = authorizer.d
    (machine,) = deployed.resources("AWS::StepFunctions::StateMachine")
    real = deployed.values(machine.stack, machine.logical_id)
    emulated_name = emulated.state_machine_arn.rsplit(":", 1)[-1]
    recorder = recorder_for(deployed)
    recorder.alias(
        {
            emulated.state_machine_arn: real["Arn"],
            f":execution:{emulated_name}:": f":execution:{real['Name']}:",
            "123456789012": deployed.account,
            "us-east-1": deployed.region,
        }
    )
    recorder.scenario = request.node.nodeid
    recorder.install(monkeypatch)
    yield
    check_scenario(recorder, authorizer, ledger, request.node.nodeid)
