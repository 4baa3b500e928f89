"""Fixtures that run the synthesized workflow in moto's Step Functions interpreter.

``workflow`` deploys the dev stage's synthesized templates (shared session synthesis) into a
fresh moto account per test, with the emulator extensions installed; tests start runs with
``workflow.run(document)`` and read the execution, its history and the emulated jobs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from moto import mock_aws

from bedrock_pipeline.local.deployment import MotoDeployment, deploy_into_moto
from bedrock_pipeline.local.emulator import ACCOUNT, REGION, AwsEmulator
from tests.authorization import Ledger, check_scenario, recorder_for
from tests.support.assembly import Assembly
from tests.support.workflow import FAST, Workflow, answer_sums
from tools.audit.authz.calls import Authorizer
from tools.audit.authz.recorder import CallRecorder


def deployed_names(deployment: MotoDeployment, authorizer: Authorizer) -> dict[str, str]:
    """Emulated physical names and ARNs -> the names CloudFormation gives the same resources."""
    deployed = authorizer.d
    aliases = {ACCOUNT: deployed.account, REGION: deployed.region}
    for (stack, logical), emulated in deployment.values.items():
        real = deployed.values(stack, logical)
        for attribute, value in emulated.items():
            if isinstance(value, str) and isinstance(real.get(attribute), str):
                aliases[value] = real[attribute]
        if "stateMachine:" in str(emulated.get("Arn")):
            aliases[f":execution:{emulated['Arn'].rsplit(':', 1)[-1]}:"] = (
                f":execution:{real['Name']}:"
            )
    return aliases


@pytest.fixture
def workflow(
    dev_assembly: Assembly,
    dev_authorizer: Authorizer,
    authorization_ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Workflow]:
    # The interpreter logs every failed state at ERROR with its whole parse tree.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    with mock_aws(
        config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    ):
        emulator = AwsEmulator()
        emulator.install(monkeypatch)
        emulator.answer = answer_sums
        deployment = deploy_into_moto(dev_assembly.templates, emulator, monkeypatch)
        from lambdas.jobs import kinds

        monkeypatch.setattr(kinds, "BACKOFF", FAST)
        recorder: CallRecorder = recorder_for(dev_authorizer.d)
        recorder.alias(deployed_names(deployment, dev_authorizer))
        recorder.scenario = request.node.nodeid
        recorder.install(monkeypatch)
        workflow = Workflow(deployment, emulator)
        workflow.deployed = recorder.rename
        yield workflow
        check_scenario(recorder, dev_authorizer, authorization_ledger, request.node.nodeid)
