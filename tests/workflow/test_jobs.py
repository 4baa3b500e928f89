"""The job driver and the notifier as pure functions, over small fake clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from bedrock_pipeline.aws.retry import Backoff
from bedrock_pipeline.run_spec import RunSpecError, names_for
from lambdas.jobs import kinds, steps
from lambdas.jobs.errors import AwsThrottled, JobRequestRejected, translate
from lambdas.jobs.settings import Settings
from lambdas.notify.logic import message, reason_of, summarize

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"
START = "2026-01-01T00:00:00Z"
SETTINGS = Settings.from_env(
    {
        "STAGE_PREFIX": "bcp-test",
        "BEDROCK_CUSTOMIZATION_ROLE_ARN": "arn:aws:iam::1:role/c",
        "BEDROCK_IMPORT_ROLE_ARN": "arn:aws:iam::1:role/i",
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::1:role/s",
        "SUBNET_IDS": "subnet-a,subnet-b",
        "SECURITY_GROUP_IDS": "sg-1",
        "MODEL_KEY_ARN": "arn:aws:kms:k",
        "ARTIFACTS_BUCKET": "artifacts",
        "TRAINING_IMAGE_URI": "image",
        "POLL_INITIAL_S": "60",
        "POLL_MAX_S": "43200",
        "POLL_TIMEOUT_S": "604800",
        "MIN_F1_GAIN": "0.02",
        "ALLOWED_BASE_MODELS": HAIKU,
    }
)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds, "BACKOFF", Backoff(attempts=3, base_s=0.0001, cap_s=0.0001))


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (fake)"}}, "Op")


def prepared(**extra: Any) -> dict[str, Any]:
    document = {
        "runName": "r1",
        "baseModelId": HAIKU,
        "trainingDataUri": "s3://data-bkt/t.jsonl",
        **extra,
    }
    return steps.prepare(document, {"executionName": "r1", "startTime": START}, SETTINGS)


class FakeBedrock:
    """Customization jobs by name; ``created`` is the creation time of every job."""

    def __init__(self, created: datetime) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.created = created
        self.stopped: list[str] = []

    def create_model_customization_job(self, **request: Any) -> dict[str, Any]:
        if request["jobName"] in self.jobs:
            raise error("ConflictException")
        arn = f"arn:aws:bedrock:us-east-1:1:model-customization-job/{request['jobName']}"
        self.jobs[request["jobName"]] = {
            "jobArn": arn,
            "status": "InProgress",
            "creationTime": self.created,
        }
        return {"jobArn": arn}

    def get_model_customization_job(self, jobIdentifier: str) -> dict[str, Any]:
        for name, job in self.jobs.items():
            if jobIdentifier in (name, job["jobArn"]):
                return job
        raise error("ResourceNotFoundException")

    def stop_model_customization_job(self, jobIdentifier: str) -> None:
        self.stopped.append(jobIdentifier)

    def get_model_import_job(self, jobIdentifier: str) -> dict[str, Any]:
        raise error("ResourceNotFoundException")

    def get_provisioned_model_throughput(self, provisionedModelId: str) -> dict[str, Any]:
        raise error("ResourceNotFoundException")


class FakeSageMaker:
    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        raise error("ValidationException")  # SageMaker's answer for an unknown job


def test_prepare_lays_out_flags_names_and_requests() -> None:
    state = prepared(
        provisionedThroughput={"modelUnits": 1}, evaluation={"testDataUri": "s3://data-bkt/e"}
    )
    assert state["flags"] == {
        "validate": True,
        "throughput": True,
        "evaluation": True,
        "releaseAfterEvaluation": True,
    }
    assert state["names"] == names_for("r1", "bcp-test")
    assert state["requests"]["validate"]["hyperParameters"] == {}
    evaluation = state["requests"]["evaluation"]
    assert evaluation["baseModelId"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert evaluation["minF1Gain"] == 0.02 and evaluation["runId"] == "r1"
    assert evaluation["decisionMetric"] == "answerScore"  # the stage's default


def test_the_run_document_chooses_the_decision_metric() -> None:
    state = prepared(
        provisionedThroughput={"modelUnits": 1},
        evaluation={"testDataUri": "s3://data-bkt/e", "decisionMetric": "exactMatch"},
    )
    assert state["requests"]["evaluation"]["decisionMetric"] == "exactMatch"


def test_prepare_gives_container_hyperparameters_to_the_validator() -> None:
    state = prepared(
        baseModelId="container/llama3",
        trainer="container",
        container={"baseWeightsUri": "s3://data-bkt/w/", "hyperParameters": {"epochCount": 4}},
    )
    assert state["requests"]["validate"]["hyperParameters"] == {"epochCount": 4}
    assert state["flags"]["validate"] is True


def test_prepare_gives_the_gpus_of_the_instances_to_the_validator() -> None:
    container = {"baseWeightsUri": "s3://data-bkt/w/", "instanceType": "ml.g5.12xlarge",
                 "instanceCount": 2}  # fmt: skip
    state = prepared(baseModelId="container/llama3", trainer="container", container=container)
    assert state["requests"]["validate"]["gpus"] == 8
    unknown = {**container, "instanceType": "ml.trn1.32xlarge"}
    state = prepared(baseModelId="container/llama3", trainer="container", container=unknown)
    assert "gpus" not in state["requests"]["validate"]


def test_prepare_refuses_a_bedrock_model_the_stage_does_not_allow() -> None:
    with pytest.raises(RunSpecError) as info:
        prepared(baseModelId="meta.llama3-1-8b-instruct-v1:0:128k")
    assert info.value.field == "baseModelId"


def test_start_twice_adopts_the_first_job() -> None:
    bedrock = FakeBedrock(created=datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    state = {**prepared(), "validation": {"hyperParameters": {"epochCount": "2"}}}
    clients = {"bedrock": bedrock}
    first = steps.start("customization", state, clients, SETTINGS)
    again = steps.start("customization", state, clients, SETTINGS)  # a retried Lambda
    assert (first["adopted"], again["adopted"]) == (False, True)
    assert len(bedrock.jobs) == 1 and again["startedAt"] == first["startedAt"]


def test_start_refuses_a_job_left_by_an_earlier_run_of_the_name() -> None:
    bedrock = FakeBedrock(created=datetime(2025, 6, 1, tzinfo=UTC))
    state = prepared()
    bedrock.create_model_customization_job(jobName=state["names"]["customization"]["jobName"])
    with pytest.raises(JobRequestRejected, match="earlier run of the same runName"):
        steps.start("customization", state, {"bedrock": bedrock}, SETTINGS)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ThrottlingException", AwsThrottled),
        ("ServiceQuotaExceededException", AwsThrottled),
        ("ValidationException", JobRequestRejected),
        ("AccessDeniedException", JobRequestRejected),
    ],
)
def test_service_errors_become_the_workflow_errors(code: str, kind: type[Exception]) -> None:
    translated = translate(error(code), "start job x")
    assert isinstance(translated, kind)
    assert str(translated) == f"start job x: {code}: {code} (fake)"


def test_cleanup_from_the_status_change_event_stops_the_running_job() -> None:
    bedrock = FakeBedrock(created=datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    name = names_for("r1", "bcp-test")["customization"]["jobName"]
    bedrock.create_model_customization_job(jobName=name)
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {
            "status": "ABORTED",
            "input": json.dumps({"runName": "r1"}),
            "startDate": int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000),
        },
    }
    clients = {"bedrock": bedrock, "sagemaker": FakeSageMaker()}
    result = steps.cleanup(event, clients, SETTINGS)
    assert bedrock.stopped == [name]
    assert result["stopped"] == [{"kind": "customization", "name": name, "status": "InProgress"}]
    bedrock.jobs[name]["status"] = "Stopped"
    assert steps.cleanup(event, clients, SETTINGS)["stopped"] == []  # safe to run twice


def test_cleanup_leaves_jobs_of_an_earlier_run_alone() -> None:
    bedrock = FakeBedrock(created=datetime(2025, 1, 1, tzinfo=UTC))
    bedrock.create_model_customization_job(
        jobName=names_for("r1", "bcp-test")["customization"]["jobName"]
    )
    event = {"state": {"runName": "r1"}, "executionStartTime": START}
    result = steps.cleanup(event, {"bedrock": bedrock, "sagemaker": FakeSageMaker()}, SETTINGS)
    assert bedrock.stopped == [] and "earlier run" in result["notes"][0]


def test_cleanup_of_an_unparseable_input_starts_nothing() -> None:
    result = steps.cleanup({"state": {"no": "runName"}}, {}, SETTINGS)
    assert result["stopped"] == [] and "nothing was started" in result["notes"][0]


def test_failure_reason_is_the_lambda_error_message() -> None:
    cause = json.dumps(
        {"errorType": "JobFailed", "errorMessage": "job x failed: bad data", "stackTrace": []}
    )
    assert reason_of({"Error": "JobFailed", "Cause": cause}) == (
        "JobFailed",
        "job x failed: bad data",
    )
    assert reason_of({"Error": "States.Timeout", "Cause": "plain text"}) == (
        "States.Timeout",
        "plain text",
    )


def test_summary_of_an_aborted_execution() -> None:
    event = {
        "detail": {
            "status": "ABORTED",
            "input": json.dumps({"runName": "r9"}),
            "name": "r9",
            "executionArn": "arn:x",
            "cause": "stopped through the API",
        }
    }
    summary = summarize(event)
    assert summary["outcome"] == "ABORTED" and summary["runName"] == "r9"
    assert summary["reason"] == "stopped through the API"


def test_sns_subject_of_the_longest_run_name_is_under_100_characters() -> None:
    # SNS Publish: "Subjects must be ... less than 100 characters long" (botocore's sns model).
    longest = "r" + "x" * 79  # patterns.RUN_NAME allows 80 characters
    for outcome in ("SUCCEEDED", "NOT_PROMOTED", "FAILED", "ABORTED", "TIMED_OUT"):
        subject, _ = message({"runName": longest, "outcome": outcome})
        assert len(subject) < 100, (outcome, len(subject))


def _check(request: dict[str, Any], service: str, operation: str) -> None:
    shape = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(request, shape.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_distillation_from_invocation_logs_becomes_the_request_botocore_accepts() -> None:
    """The run document's invocationLogsConfig is the request's trainingDataConfig, unchanged;
    no prompt file (s3Uri) beside it."""
    logs = {
        "invocationLogSource": {"s3Uri": "s3://log-bkt/AWSLogs/123456789012/"},
        "usePromptResponse": True,
        "requestMetadataFilters": {
            "andAll": [{"equals": {"project": "faq"}}, {"notEquals": {"stage": "test"}}]
        },
    }
    state = prepared(
        customizationType="DISTILLATION",
        teacherModelId="anthropic.claude-3-5-sonnet-20240620-v1:0",
        trainingDataUri=None,
        invocationLogsConfig=logs,
    )
    assert state["requests"]["validate"]["invocationLogsConfig"] == logs  # read by validate
    state["validation"] = {"hyperParameters": {"epochCount": 2}}
    request = steps.BUILDERS["customization"](state, SETTINGS)
    assert request["trainingDataConfig"] == {"invocationLogsConfig": logs}
    assert request["customizationType"] == "DISTILLATION"
    assert request["customizationConfig"]["distillationConfig"]["teacherModelConfig"] == {
        "teacherModelIdentifier": "anthropic.claude-3-5-sonnet-20240620-v1:0"
    }
    _check(request, "bedrock", "CreateModelCustomizationJob")
    # The check can fail: a misspelled member or a wrong type is caught by the service model.
    for wrong in ({"usePromptResponses": True}, {"usePromptResponse": "yes"}):
        config = {**logs, **wrong}
        with pytest.raises(AssertionError):
            _check(
                {**request, "trainingDataConfig": {"invocationLogsConfig": config}},
                "bedrock",
                "CreateModelCustomizationJob",
            )


@pytest.mark.parametrize(
    ("kind", "service", "operation"),
    [
        ("customization", "bedrock", "CreateModelCustomizationJob"),
        ("training", "sagemaker", "CreateTrainingJob"),
        ("import", "bedrock", "CreateModelImportJob"),
        ("throughput", "bedrock", "CreateProvisionedModelThroughput"),
    ],
)
def test_every_request_matches_the_botocore_model(kind: str, service: str, operation: str) -> None:
    """The emulator answers import and throughput calls before botocore validates them, so the
    field names and shapes of every request are checked against the service model here."""
    if kind in ("training", "import"):
        state = prepared(
            trainer="container",
            baseModelId="container/llama3",
            container={"baseWeightsUri": "s3://data-bkt/w/", "useSpot": True},
        )
    else:
        state = prepared(
            customizationType="DISTILLATION",
            teacherModelId="anthropic.claude-3-5-sonnet-20240620-v1:0",
            maxResponseLength=1000,
            validationDataUri="s3://data-bkt/v.jsonl",
            provisionedThroughput={"modelUnits": 1},
            tags={"team": "ml"},
        )
        state["jobs"] = {"customization": {"outputs": {"modelArn": "arn:aws:bedrock:x"}}}
    state["validation"] = {"hyperParameters": {"epochCount": 2}}
    request = steps.BUILDERS[kind](state, SETTINGS)
    shape = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(request, shape.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()
