"""Lambda proxy integration of the trigger API: routes a REST API event to ``lambdas.api.runs``.

Environment: ``ApiEnvironment`` (``contract.ApiEnv``). The gateway has already checked the
SigV4 signature, the resource policy, the API key and the request model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_pipeline.api_request import ApiFailure
from bedrock_pipeline.contract import ErrorCode, Route
from lambdas.api import runs
from lambdas.common.clients import API_GATEWAY_BUDGET, client
from lambdas.common.environment import CommaList, FunctionEnvironment, parse_environment
from lambdas.common.observability import instrument, logger, metrics


class ApiEnvironment(FunctionEnvironment):
    STATE_MACHINE_ARN: str  # the workflow's STANDARD state machine
    ALLOWED_BASE_MODELS: CommaList = ()  # the stage's base models; empty: any


HEADERS = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}

# (Step Functions client, state machine ARN, proxy event, allowed base models) -> response
Operation = Callable[[Any, str, dict[str, Any], tuple[str, ...]], runs.Response]

ROUTES: dict[tuple[str, str], Operation] = {
    (Route.RUNS, "POST"): lambda sfn, sm, e, allowed: runs.start_run(
        sfn, sm, e.get("body"), bool(e.get("isBase64Encoded")), allowed
    ),
    (Route.RUNS, "GET"): lambda sfn, sm, e, _: runs.list_runs(
        sfn, sm, e.get("queryStringParameters")
    ),
    (Route.RUN, "GET"): lambda sfn, sm, e, _: runs.get_run(sfn, sm, _run_name(e)),
    (Route.STOP, "POST"): lambda sfn, sm, e, _: runs.stop_run(sfn, sm, _run_name(e), _caller(e)),
}


def dispatch(
    event: dict[str, Any],
    *,
    sfn: Any,
    state_machine_arn: str,
    allowed_base_models: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One proxy event in, one proxy response out; never raises for a caller's mistake.
    ``allowed_base_models``: the stage's list (empty: any)."""
    resource, method = event.get("resource", ""), event.get("httpMethod", "")
    request_id = (event.get("requestContext") or {}).get("requestId")
    operation = ROUTES.get((resource, method))
    try:
        if operation is None:
            if any(r == resource for r, _ in ROUTES):
                raise ApiFailure(405, ErrorCode.METHOD_NOT_ALLOWED, f"{method} {resource}")
            raise ApiFailure(404, ErrorCode.NOT_FOUND, f"no route {method} {resource}")
        response = operation(sfn, state_machine_arn, event, allowed_base_models)
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


@cache
def _environment() -> ApiEnvironment:
    return parse_environment(ApiEnvironment)


@cache
def _sfn() -> Any:
    return client("stepfunctions", API_GATEWAY_BUDGET)


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    env = _environment()
    response = dispatch(
        event,
        sfn=_sfn(),
        state_machine_arn=env.STATE_MACHINE_ARN,
        allowed_base_models=env.ALLOWED_BASE_MODELS,
    )
    # Api2xx, Api4xx, Api5xx: answers by class (the gateway's own errors are its metrics).
    metrics.add_metric(name=f"Api{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1)
    return response
