"""Lambda proxy integration of the trigger API: routes a REST API event to ``lambdas.api.runs``.

Environment: ``STATE_MACHINE_ARN`` (the workflow's STANDARD state machine) and
``ALLOWED_BASE_MODELS`` (comma-separated; the stage's base models, empty: any). The gateway has
already checked the SigV4 signature, the resource policy, the API key and the request model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from bedrock_pipeline.api_request import ApiFailure
from bedrock_pipeline.contract import ErrorCode, Route
from lambdas.api import runs

logger = Logger(service="trigger-api")
tracer = Tracer(service="trigger-api")

HEADERS = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}

Operation = Callable[[Any, str, dict[str, Any]], runs.Response]

ROUTES: dict[tuple[str, str], Operation] = {
    (Route.RUNS, "POST"): lambda sfn, sm, e: runs.start_run(
        sfn, sm, e.get("body"), bool(e.get("isBase64Encoded")), _allowed_base_models()
    ),
    (Route.RUNS, "GET"): lambda sfn, sm, e: runs.list_runs(sfn, sm, e.get("queryStringParameters")),
    (Route.RUN, "GET"): lambda sfn, sm, e: runs.get_run(sfn, sm, _run_name(e)),
    (Route.STOP, "POST"): lambda sfn, sm, e: runs.stop_run(sfn, sm, _run_name(e), _caller(e)),
}


def dispatch(event: dict[str, Any], *, sfn: Any, state_machine_arn: str) -> dict[str, Any]:
    """One proxy event in, one proxy response out; never raises for a caller's mistake."""
    resource, method = event.get("resource", ""), event.get("httpMethod", "")
    request_id = (event.get("requestContext") or {}).get("requestId")
    operation = ROUTES.get((resource, method))
    try:
        if operation is None:
            if any(r == resource for r, _ in ROUTES):
                raise ApiFailure(405, ErrorCode.METHOD_NOT_ALLOWED, f"{method} {resource}")
            raise ApiFailure(404, ErrorCode.NOT_FOUND, f"no route {method} {resource}")
        response = operation(sfn, state_machine_arn, event)
        status, body = response.status, response.body
    except ApiFailure as failure:
        status, body = failure.status, failure.body()
    except Exception:
        # Details go to the log, never to the caller; the request id links the two.
        logger.exception("unhandled error", extra={"route": f"{method} {resource}"})
        status = 500
        body = {"error": str(ErrorCode.INTERNAL),
                "message": f"internal error; see the API logs, request {request_id}"}  # fmt: skip
    logger.info(
        "request",
        extra={
            "route": f"{method} {resource}",
            "status": status,
            "error": body.get("error"),
            "requestId": request_id,
        },
    )
    return {"statusCode": status, "headers": HEADERS, "body": json.dumps(body)}


def _run_name(event: dict[str, Any]) -> str:
    return str((event.get("pathParameters") or {}).get("runName") or "")


def _caller(event: dict[str, Any]) -> str | None:
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return identity.get("userArn") or identity.get("caller")


def _allowed_base_models() -> tuple[str, ...]:
    return tuple(m for m in os.environ.get("ALLOWED_BASE_MODELS", "").split(",") if m)


@cache
def _sfn() -> Any:
    # One retry layer (runs.RETRY_BACKOFF), and timeouts that fit the gateway's 29 s.
    config = Config(
        retries={"mode": "standard", "max_attempts": 1}, connect_timeout=3, read_timeout=10
    )
    return boto3.client("stepfunctions", config=config)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dispatch(event, sfn=_sfn(), state_machine_arn=os.environ["STATE_MACHINE_ARN"])
