"""Fixtures that run the synthesized workflow in moto's Step Functions interpreter.

``workflow`` deploys the dev stage's synthesized templates (shared session synthesis) into a
fresh moto account per test, with the emulator extensions installed; tests start runs with
``workflow.run(document)`` and read the execution, its history and the emulated jobs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from tests.support.assembly import Assembly
from tests.support.workflow import FAST, Workflow, answer_sums
from tests.workflow.emulator import AwsEmulator
from tests.workflow.harness import MotoDeployment


@pytest.fixture
def workflow(dev_assembly: Assembly, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workflow]:
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
        deployment = MotoDeployment(dev_assembly.templates, emulator)
        monkeypatch.setattr(
            LambdaSimpleBackend,
            "invoke",
            lambda self, name, qualifier, body, headers, response_headers: deployment.invoke(
                name, body, response_headers
            ),
        )
        deployment.deploy()
        deployment.create_state_machine()
        emulator.status_change_targets = deployment.deliver_status_change
        from lambdas.jobs import kinds

        monkeypatch.setattr(kinds, "BACKOFF", FAST)
        for module in deployment.handler_modules():
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()
        yield Workflow(deployment, emulator)
