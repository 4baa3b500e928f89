"""The contract module is the single source the stacks and the handlers agree on: what the
synthesized templates carry is exactly what the handlers' models and the contract name."""

from __future__ import annotations

import json
import re
import typing
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel

from bedrock_pipeline import contract
from bedrock_pipeline.contract import StatePath
from bedrock_pipeline.run_state import ExecutionStatusChange, JobRecord, PreparedRun
from lambdas.api.handler import ApiEnvironment
from lambdas.evaluate import config as evaluate_config
from lambdas.evaluate.handler import EvaluateEnvironment
from lambdas.jobs import steps
from lambdas.jobs.settings import Settings
from lambdas.notify.handler import NotifyEnvironment
from lambdas.validate.handler import ValidateEnvironment
from tests.support.assembly import Assembly

# handler -> (the contract's names, the handler's model, the contract's service name)
FUNCTIONS: dict[str, tuple[type[StrEnum], type[BaseModel], contract.Service]] = {
    "lambdas.api.handler.handler": (contract.ApiEnv, ApiEnvironment, contract.Service.API),
    "lambdas.jobs.handler.handler": (contract.JobsEnv, Settings, contract.Service.JOBS),
    "lambdas.validate.handler.handler": (
        contract.ValidateEnv,
        ValidateEnvironment,
        contract.Service.VALIDATE,
    ),
    "lambdas.evaluate.handler.handler": (
        contract.EvaluateEnv,
        EvaluateEnvironment,
        contract.Service.EVALUATE,
    ),
    "lambdas.notify.handler.handler": (
        contract.NotifyEnv,
        NotifyEnvironment,
        contract.Service.NOTIFY,
    ),
}
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def functions(assembly: Assembly) -> dict[str, dict[str, Any]]:
    found = assembly.resources("-workflow", "AWS::Lambda::Function")
    return {
        f["Properties"]["Handler"]: f["Properties"]["Environment"]["Variables"]
        for f in found.values()
        if f["Properties"]["Handler"].startswith("lambdas.")
    }


def test_every_function_gets_exactly_the_environment_its_model_reads(
    dev_assembly: Assembly,
) -> None:
    deployed = functions(dev_assembly)
    assert set(deployed) == set(FUNCTIONS)
    for handler, variables in deployed.items():
        names, model, service = FUNCTIONS[handler]
        assert set(variables) - POWERTOOLS == {n.value for n in names}, handler
        assert set(model.model_fields) == {n.value for n in names}, handler
        assert variables["POWERTOOLS_SERVICE_NAME"] == service.value
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == contract.METRICS_NAMESPACE


def _definition(assembly: Assembly) -> str:
    machines = assembly.resources("-workflow", "AWS::StepFunctions::StateMachine")
    (machine,) = machines.values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "<ref>" for p in parts)


def _paths() -> set[str]:
    values = {v for k, v in vars(StatePath).items() if k.isupper()}
    return values | {
        StatePath.job(kind, field)
        for kind in contract.JobKind
        for field in ("", "waitSeconds", "done")
    }


def test_the_state_machine_uses_only_the_contracts_paths_and_actions(
    dev_assembly: Assembly,
) -> None:
    definition = json.loads(_definition(dev_assembly))
    used: set[str] = set()
    actions: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "action" and isinstance(value, str):
                    actions.add(value)
                if isinstance(value, str) and value.startswith("$") and not value.startswith("$$"):
                    used.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(definition)
    used |= set(re.findall(r"(?<!\$)\$\.[A-Za-z.]+", json.dumps(definition)))
    # "$[0]": the Run branch's output (a Parallel returns one element per branch).
    unknown = used - _paths() - {"$[0]"}
    assert not unknown, unknown
    assert actions == {a.value for a in contract.JobsAction} | {
        a.value for a in contract.EvaluateAction
    }


def test_the_evaluation_events_accept_exactly_the_contracts_actions() -> None:
    accepted = set()
    for event in (
        evaluate_config.PlanEvent,
        evaluate_config.RunBatchEvent,
        evaluate_config.ReportEvent,
    ):
        accepted |= set(typing.get_args(event.model_fields["action"].annotation))
    assert accepted == {a.value for a in contract.EvaluateAction}


def test_job_records_round_trip_without_the_elapsed_time_until_the_first_poll() -> None:
    record = JobRecord(
        kind="training", name="j", id="j", adopted=False, started_at=1.0, status="InProgress",
        done=False, polls=0, wait_seconds=60, outputs={"modelArn": None},
    )  # fmt: skip
    dumped = record.dump()
    assert "elapsed" not in dumped and dumped["waitSeconds"] == 60
    assert dumped["outputs"] == {"modelArn": None}
    assert JobRecord.model_validate(dumped) == record
    polled = record.model_copy(update={"elapsed": 61}).dump()
    assert polled["elapsed"] == 61


SETTINGS = Settings.from_env(
    {
        "STAGE_PREFIX": "bcp-test",
        "BEDROCK_CUSTOMIZATION_ROLE_ARN": "arn:aws:iam::1:role/c",
        "BEDROCK_IMPORT_ROLE_ARN": "arn:aws:iam::1:role/i",
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::1:role/s",
        "SUBNET_IDS": "subnet-a",
        "SECURITY_GROUP_IDS": "sg-1",
        "MODEL_KEY_ARN": "arn:aws:kms:k",
        "ARTIFACTS_BUCKET": "artifacts",
        "TRAINING_IMAGE_URI": "image",
        "POLL_INITIAL_S": "60",
        "POLL_MAX_S": "1800",
        "POLL_TIMEOUT_S": "604800",
        "MIN_F1_GAIN": "0.02",
    }
)


def test_prepare_returns_a_prepared_run_and_nothing_undocumented() -> None:
    document = {
        "runName": "r1",
        "baseModelId": "anthropic.claude-3-haiku-20240307-v1:0:200k",
        "trainingDataUri": "s3://data-bkt/t.jsonl",
        "provisionedThroughput": {"modelUnits": 1},
    }
    context = {"executionName": "r1", "startTime": "2026-01-01T00:00:00Z"}
    state = steps.prepare(document, context, SETTINGS)
    assert PreparedRun.model_validate(state).dump() == state
    assert state["flags"] == {
        "validate": True, "throughput": True, "evaluation": False, "releaseAfterEvaluation": True
    }  # fmt: skip
    assert set(state["names"]) == {"execution", "slug", *contract.JobKind}
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        PreparedRun.model_validate({**state, "surprise": 1})


@pytest.mark.parametrize(
    ("detail", "document", "start"),
    [
        ({"input": '{"runName": "r"}', "startDate": 1_700_000_000_000}, {"runName": "r"}, 1.7e9),
        ({"input": "not json"}, {}, None),
        ({"input": "[1, 2]"}, {}, None),
        ({}, {}, None),
    ],
)
def test_one_parser_reads_the_execution_status_change(
    detail: dict[str, Any], document: dict[str, Any], start: float | None
) -> None:
    change = ExecutionStatusChange.from_event({"detail": {"status": "ABORTED", **detail}})
    assert change is not None and change.status == "ABORTED"
    assert change.document == document and change.start_time == start
    assert ExecutionStatusChange.from_event({"action": "cleanup"}) is None


def test_the_error_names_the_state_machine_branches_on_are_the_handlers_exceptions() -> None:
    from lambdas.jobs.errors import AwsThrottled
    from lambdas.validate.logic import DatasetValidationError

    assert AwsThrottled.__name__ == contract.StepError.AWS_THROTTLED
    assert DatasetValidationError.__name__ == contract.StepError.DATASET_INVALID
