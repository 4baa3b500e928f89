"""The workflow's validate step, as a pure function over an injected S3 client.

Reads the run's datasets from S3, writes the full report next to the run's artifacts and
either returns the resolved hyperparameters (string map, ready for CreateModelCustomizationJob)
or raises `DatasetValidationError`, whose class name Step Functions uses as the error name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bedrock_pipeline.aws.retry import call_with_retry
from bedrock_pipeline.aws.s3 import S3Object, log_objects, object_heads
from bedrock_pipeline.image_manifest import HEAD_BYTES, manifest_body, manifest_key
from bedrock_pipeline.model_spec import CustomizationType, Trainer
from bedrock_pipeline.patterns import RUN_NAME
from bedrock_pipeline.registry import UnknownModelError, get_model
from bedrock_pipeline.validation import (
    check_media_objects,
    validate_dataset,
    validate_invocation_log_run,
)
from bedrock_pipeline.validation_report import Report

MESSAGE_LINES = 10  # issue lines in the error message; the report holds the rest
MESSAGE_LINE_CHARS = 400  # Step Functions keeps 32 KB of a cause; stay far below it


class DatasetValidationError(Exception):
    """The run's dataset or settings are invalid; the message says what to fix."""


class ValidateEvent(BaseModel):
    """The validate step's input: the run document's fields this step reads (others ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    run_name: str = Field(alias="runName", pattern=RUN_NAME)
    base_model_id: str = Field(alias="baseModelId", min_length=1)
    customization_type: CustomizationType = Field(alias="customizationType")
    trainer: Trainer
    training_data_uri: str | None = Field(None, alias="trainingDataUri")
    validation_data_uri: str | None = Field(None, alias="validationDataUri")
    hyper_parameters: dict[str, str | int | float] | None = Field(None, alias="hyperParameters")
    teacher_model_id: str | None = Field(None, alias="teacherModelId")
    # Distillation from invocation logs (run_spec.InvocationLogsConfig, already checked there).
    invocation_logs_config: dict[str, Any] | None = Field(None, alias="invocationLogsConfig")
    # trainer=container: the run document keeps the container's settings under "container".
    container: dict[str, Any] | None = None
    # trainer=container: GPUs of the training job (instances x GPUs each), for the batch layout.
    gpus: int | None = Field(None, ge=1)

    def given_hyperparameters(self) -> Mapping[str, object] | None:
        if self.hyper_parameters or self.trainer is not Trainer.CONTAINER or not self.container:
            return self.hyper_parameters
        return self.container.get("hyperParameters")


def report_key(run_name: str) -> str:
    return f"runs/{run_name}/validation-report.json"


def error_message(report: Report, report_uri: str) -> str:
    """Error count, the first issue lines, then where the full report is (a few KB at most)."""
    errors = report.issues("error", MESSAGE_LINES)
    lines = [f"{report.error_count} validation error(s):"]
    lines += [str(issue)[:MESSAGE_LINE_CHARS] for issue in errors]
    if report.error_count > len(errors):
        lines.append(f"... and {report.error_count - len(errors)} more")
    lines.append(f"full report: {report_uri}")
    return "\n".join(lines)


def _put_report(
    s3: Any, bucket: str, key: str, body: Mapping[str, Any], kms_key: str | None
) -> None:
    _put(s3, bucket, key, json.dumps(body, indent=1).encode(), kms_key)


def _put(s3: Any, bucket: str, key: str, body: bytes, kms_key: str | None) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "ContentType": "application/json"}
    if kms_key:  # else the bucket's default encryption applies
        kwargs |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}
    call_with_retry(s3.put_object, Body=body, **kwargs)


def run_validation(
    event: Mapping[str, Any],
    *,
    s3: Any,
    artifacts_bucket: str,
    kms_key_id: str | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Validate the run described by `event`; raise DatasetValidationError when it is invalid."""
    spec = ValidateEvent.model_validate(event)
    key = report_key(spec.run_name)
    report_uri = f"s3://{artifacts_bucket}/{key}"
    if spec.trainer is Trainer.IMPORT:
        # Weights trained elsewhere: no dataset and no hyperparameters to check here (the
        # import-readiness check runs in its own step).
        body = {"valid": True, "trainer": "import", "skipped": "no dataset for trainer=import"}
        _put_report(s3, artifacts_bucket, key, body, kms_key_id)
        return {"valid": True, "reportUri": report_uri, "hyperParameters": {}, "summary": body}
    try:
        model = get_model(spec.base_model_id)
    except UnknownModelError as exc:
        # A settings mistake like any other: same error name, same report, for the workflow.
        line = f"baseModelId:0: UNKNOWN_MODEL: {exc}"
        _put_report(s3, artifacts_bucket, key, {"valid": False, "errors": [line]}, kms_key_id)
        message = f"1 validation error(s):\n{line}\nfull report: {report_uri}"
        raise DatasetValidationError(message) from None
    if spec.invocation_logs_config is not None:
        config = spec.invocation_logs_config
        report = validate_invocation_log_run(
            log_objects(config["invocationLogSource"]["s3Uri"], s3),
            config,
            model=model,
            hyperparameters=spec.given_hyperparameters(),
            teacher_id=spec.teacher_model_id,
        )
        return _finish(report, s3, artifacts_bucket, key, report_uri, kms_key_id)
    if spec.training_data_uri is None:
        raise DatasetValidationError(f"trainingDataUri is required for trainer={spec.trainer}")
    report = validate_dataset(
        S3Object(spec.training_data_uri, s3),
        model=model,
        customization=spec.customization_type,
        trainer=spec.trainer,
        validation=S3Object(spec.validation_data_uri, s3) if spec.validation_data_uri else None,
        hyperparameters=spec.given_hyperparameters(),
        teacher_id=spec.teacher_model_id,
        deadline=deadline,
        gpus=spec.gpus,
    )
    if report.media:  # the objects exist, fit and are what they claim, before any job starts
        check_media_objects(report, *object_heads(s3, report.media, HEAD_BYTES, deadline))
    # The scanner kept the images to one bucket and to keys that are file paths.
    manifest = manifest_body(report.media) if report.media and report.valid else None
    result = _finish(report, s3, artifacts_bucket, key, report_uri, kms_key_id)
    if manifest is not None:
        # The container's `images` channel: exactly the images of the records just validated.
        stored = manifest_key(spec.run_name)
        _put(s3, artifacts_bucket, stored, manifest, kms_key_id)
        result["imagesManifestUri"] = f"s3://{artifacts_bucket}/{stored}"
    return result


def _finish(
    report: Report, s3: Any, bucket: str, key: str, report_uri: str, kms_key_id: str | None
) -> dict[str, Any]:
    _put_report(s3, bucket, key, report.to_dict(), kms_key_id)
    if not report.valid:
        raise DatasetValidationError(error_message(report, report_uri))
    return {
        "valid": True,
        "reportUri": report_uri,
        "hyperParameters": report.hyperparameters,
        "summary": report.summary(),
    }
