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
from tests.support.api import (
    API_KEY,
    DEFINITION,
    KEY_ID,
    SECRET,
    StepFunctions,
)


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
