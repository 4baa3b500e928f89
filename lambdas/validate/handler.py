"""Lambda entry point of the validate step: a thin adapter over `logic.run_validation`."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.validate.logic import DatasetValidationError, run_validation

__all__ = ["DatasetValidationError", "handler"]

logger = Logger(service="validate")
# Leave time to write the report and raise a readable error before Lambda's own timeout.
DEADLINE_MARGIN_S = 30.0
_s3: Any = None


def _client() -> Any:
    global _s3
    if _s3 is None:
        _s3 = boto3.client("s3")
    return _s3


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_S
    try:
        result = run_validation(
            event,
            s3=_client(),
            artifacts_bucket=os.environ["ARTIFACTS_BUCKET"],
            kms_key_id=os.environ.get("ARTIFACTS_KMS_KEY_ID") or None,
            deadline=deadline,
        )
    except DatasetValidationError as exc:
        logger.warning("dataset invalid", extra={"reason": str(exc)[:2000]})
        raise
    logger.info("dataset valid", extra={"reportUri": result["reportUri"], **result["summary"]})
    return result
