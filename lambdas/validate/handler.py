"""Lambda entry point of the validate step: a thin adapter over `logic.run_validation`.

Event: the run state's ``requests.validate`` (``logic.ValidateEvent``). Environment:
``ValidateEnvironment`` (``contract.ValidateEnv``).
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.clients import S3_OWN_RETRIES, client
from lambdas.common.environment import FunctionEnvironment, parse_environment
from lambdas.common.observability import instrument, logger, metrics
from lambdas.validate.logic import DatasetValidationError, run_validation

__all__ = ["DatasetValidationError", "handler"]

# Leave time to write the report and raise a readable error before Lambda's own timeout.
DEADLINE_MARGIN_S = 30.0


class ValidateEnvironment(FunctionEnvironment):
    ARTIFACTS_BUCKET: str  # where the report goes (runs/<runName>/validation-report.json)
    ARTIFACTS_KMS_KEY_ID: str | None = None  # the report's SSE-KMS key; empty: the bucket's


@cache
def _environment() -> ValidateEnvironment:
    return parse_environment(ValidateEnvironment)


@cache
def _s3() -> Any:
    return client("s3", S3_OWN_RETRIES)  # every call goes through call_with_retry


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_S
    env = _environment()
    try:
        result = run_validation(
            event,
            s3=_s3(),
            artifacts_bucket=env.ARTIFACTS_BUCKET,
            kms_key_id=env.ARTIFACTS_KMS_KEY_ID or None,
            deadline=deadline,
        )
    except DatasetValidationError as exc:
        metrics.add_metric(name="DatasetInvalid", unit=MetricUnit.Count, value=1)
        logger.warning("dataset invalid", extra={"reason": str(exc)[:2000]})
        raise
    metrics.add_metric(
        name="DatasetValid" if result.get("valid") else "DatasetInvalid",
        unit=MetricUnit.Count,
        value=1,
    )
    logger.info("dataset valid", extra={"reportUri": result["reportUri"], **result["summary"]})
    return result
