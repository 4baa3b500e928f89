"""Fixtures of the trigger API tests: moto's Step Functions executing a small state machine.

The machine stands in for the workflow by the inputs it branches on: with ``evaluation`` it
succeeds NOT_PROMOTED; else by ``trainer``: ``import`` succeeds at once with outputs,
``container`` fails with a reason, ``bedrock`` waits an hour in a named step (a run that stays
RUNNING until stopped)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.api.gateway import Gateway, serve
from tests.authorization import Ledger, check_scenario, recorder_for
from tests.support.api import (
    API_KEY,
    DEFINITION,
    KEY_ID,
    SECRET,
    StepFunctions,
)
from tools.audit.authz.calls import Authorizer


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
