"""The four job kinds as one table: how to start, describe and stop each, and what its
statuses mean. Every call goes through ``call_with_retry``; errors that survive it become the
workflow's typed errors (``lambdas.jobs.errors.translate``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from bedrock_pipeline.aws.retry import DEFAULT_BACKOFF, Backoff, call_with_retry, error_code
from lambdas.jobs.errors import translate

# Tests shorten the backoff; the Lambda keeps the default.
BACKOFF: Backoff = DEFAULT_BACKOFF
# Create calls that collide with an existing job of the same name.
CONFLICT_CODES = frozenset({"ConflictException", "ResourceInUseException", "ResourceInUse"})
NOT_FOUND_CODES = frozenset(
    {"ResourceNotFoundException", "ResourceNotFound", "ValidationException"}
)


class Phase(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class Described:
    status: str  # the service's own word
    phase: Phase
    message: str | None  # failure reason
    created_at: float | None  # epoch seconds
    outputs: dict[str, Any]


@dataclass(frozen=True)
class JobKind:
    name: str
    service: str  # key of the clients mapping
    label: str  # for messages
    phases: Mapping[str, Phase]
    create: Callable[[Any, dict[str, Any]], str]  # -> identifier (ARN or name)
    describe: Callable[[Any, str], dict[str, Any]]
    read: Callable[[Mapping[str, Any]], tuple[str, str | None, Any, dict[str, Any]]]
    stop: Callable[[Any, str], None] | None  # None: the service has no stop API

    def describe_job(self, client: Any, identifier: str) -> Described:
        try:
            response = call_with_retry(self.describe, client, identifier, backoff=BACKOFF)
        except ClientError as exc:
            raise translate(exc, f"describe {self.label} {identifier}") from exc
        status, message, created, outputs = self.read(response)
        phase = self.phases.get(status, Phase.RUNNING)
        return Described(status, phase, message, _epoch(created), outputs)

    def find(self, client: Any, identifier: str) -> Described | None:
        """Like ``describe_job`` but None when no such job exists (clean-up by name)."""
        try:
            response = call_with_retry(self.describe, client, identifier, backoff=BACKOFF)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise translate(exc, f"describe {self.label} {identifier}") from exc
        status, message, created, outputs = self.read(response)
        return Described(
            status, self.phases.get(status, Phase.RUNNING), message, _epoch(created), outputs
        )


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


BEDROCK_JOB = {"InProgress": Phase.RUNNING, "Completed": Phase.SUCCEEDED, "Failed": Phase.FAILED,
               "Stopping": Phase.STOPPED, "Stopped": Phase.STOPPED}  # fmt: skip


def _customization_create(client: Any, request: dict[str, Any]) -> str:
    return str(client.create_model_customization_job(**request)["jobArn"])


def _customization_read(r: Mapping[str, Any]) -> tuple[str, str | None, Any, dict[str, Any]]:
    outputs = {"jobArn": r.get("jobArn"), "modelArn": r.get("outputModelArn"),
               "modelName": r.get("outputModelName")}  # fmt: skip
    if r.get("status") == "Completed":
        outputs["trainingMetrics"] = r.get("trainingMetrics")
        outputs["validationMetrics"] = r.get("validationMetrics")
    return r["status"], r.get("failureMessage"), r.get("creationTime"), outputs


def _training_create(client: Any, request: dict[str, Any]) -> str:
    client.create_training_job(**request)
    return str(request["TrainingJobName"])


def _training_read(r: Mapping[str, Any]) -> tuple[str, str | None, Any, dict[str, Any]]:
    metrics = {m["MetricName"]: m["Value"] for m in r.get("FinalMetricDataList", [])}
    outputs = {"jobArn": r.get("TrainingJobArn"), "finalMetrics": metrics,
               "billableSeconds": r.get("BillableTimeInSeconds")}  # fmt: skip
    return r["TrainingJobStatus"], r.get("FailureReason"), r.get("CreationTime"), outputs


def _import_create(client: Any, request: dict[str, Any]) -> str:
    return str(client.create_model_import_job(**request)["jobArn"])


def _import_read(r: Mapping[str, Any]) -> tuple[str, str | None, Any, dict[str, Any]]:
    outputs = {"jobArn": r.get("jobArn"), "modelArn": r.get("importedModelArn")}
    return r["status"], r.get("failureMessage"), r.get("creationTime"), outputs


def _throughput_create(client: Any, request: dict[str, Any]) -> str:
    return str(client.create_provisioned_model_throughput(**request)["provisionedModelArn"])


def _throughput_read(r: Mapping[str, Any]) -> tuple[str, str | None, Any, dict[str, Any]]:
    outputs = {"provisionedModelArn": r.get("provisionedModelArn"), "modelArn": r.get("modelArn")}
    return r["status"], r.get("failureMessage"), r.get("creationTime"), outputs


KINDS: dict[str, JobKind] = {
    "customization": JobKind(
        name="customization",
        service="bedrock",
        label="model customization job",
        phases=BEDROCK_JOB,
        create=_customization_create,
        describe=lambda c, i: c.get_model_customization_job(jobIdentifier=i),
        read=_customization_read,
        stop=lambda c, i: c.stop_model_customization_job(jobIdentifier=i),
    ),
    "training": JobKind(
        name="training",
        service="sagemaker",
        label="SageMaker training job",
        phases=BEDROCK_JOB,  # SageMaker uses the same five words
        create=_training_create,
        describe=lambda c, i: c.describe_training_job(TrainingJobName=i),
        read=_training_read,
        stop=lambda c, i: c.stop_training_job(TrainingJobName=i),
    ),
    "import": JobKind(
        name="import",
        service="bedrock",
        label="model import job",
        phases={"InProgress": Phase.RUNNING, "Completed": Phase.SUCCEEDED, "Failed": Phase.FAILED},
        create=_import_create,
        describe=lambda c, i: c.get_model_import_job(jobIdentifier=i),
        read=_import_read,
        # Bedrock has no StopModelImportJob: an import runs to its end (minutes, not hours).
        stop=None,
    ),
    "throughput": JobKind(
        name="throughput",
        service="bedrock",
        label="provisioned throughput",
        phases={
            "Creating": Phase.RUNNING,
            "Updating": Phase.RUNNING,
            "InService": Phase.SUCCEEDED,
            "Failed": Phase.FAILED,
        },
        create=_throughput_create,
        describe=lambda c, i: c.get_provisioned_model_throughput(provisionedModelId=i),
        read=_throughput_read,
        # Deleting is how provisioned throughput stops billing.
        stop=lambda c, i: c.delete_provisioned_model_throughput(provisionedModelId=i),
    ),
}
