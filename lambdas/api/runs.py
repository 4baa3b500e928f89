"""The four operations of the trigger API, as pure functions over a Step Functions client.

A run is one execution of the STANDARD state machine, named by ``execution_name(runName)``.
Starting is idempotent by that name: the same document again returns the existing run (200),
a different document under a taken name is a conflict (409). Documents are compared in their
normalized form (``RunSpec.workflow_input()``, which is also the execution's input), so a retry
that spells out a default is still the same run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bedrock_pipeline.api_request import ApiFailure, FieldProblem, json_body, list_query, run_spec
from bedrock_pipeline.aws.retry import Backoff, call_with_retry, error_code, is_retryable
from bedrock_pipeline.contract import ErrorCode, RunStatus
from bedrock_pipeline.model_spec import Trainer
from bedrock_pipeline.run_spec import RunSpec, execution_name, inference_model_id

# The error recorded on executions stopped through the API (DescribeExecution ``error``).
STOP_ERROR = "RunCancelled"
# Short: API Gateway gives the integration 29 s, and the client retries 429s itself.
RETRY_BACKOFF = Backoff(attempts=4, base_s=0.2, cap_s=2.0)
# Newest history events read to find the current step: a handful of states at most.
HISTORY_PAGE = 25
# execution_name() appends "-<8 hex>" to run names it had to change; only those may differ.
_DERIVED_NAME = re.compile(r"-[0-9a-f]{8}$")


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]


def start_run(
    sfn: Any,
    state_machine_arn: str,
    raw_body: str | None,
    is_base64: bool,
    allowed_base_models: tuple[str, ...] = (),
) -> Response:
    """POST /runs: 201 with a new run, 200 with the existing identical run, 409 on conflict.

    ``allowed_base_models`` (the stage's list; empty: any) is the check the workflow's first
    step makes too, made here so that a wrong model is a 400 rather than a failed run."""
    spec = run_spec(json_body(raw_body, is_base64))
    _check_base_model(spec, allowed_base_models)
    name = execution_name(spec.run_name)
    arn = execution_arn(state_machine_arn, name)
    wanted = spec.workflow_input()
    existing = _describe_or_none(sfn, arn)
    if existing is None:
        try:
            _call(
                sfn.start_execution,
                stateMachineArn=state_machine_arn,
                name=name,
                # Canonical JSON: Step Functions' own idempotency compares input strings.
                input=json.dumps(wanted, sort_keys=True, separators=(",", ":")),
            )
        except ClientError as exc:
            if error_code(exc) != "ExecutionAlreadyExists":
                raise
            # A concurrent request won the race; judge its document like any existing run.
            existing = _describe(sfn, arn, spec.run_name)
        else:
            return Response(201, run_view(_describe(sfn, arn, spec.run_name), current_step=None))
    assert existing is not None
    if _stored_input(existing) != wanted:
        raise ApiFailure(
            409,
            ErrorCode.RUN_CONFLICT,
            f"run {spec.run_name!r} already exists ({existing['status']}) with a different "
            "document; choose a new runName, or resend the original document to get that run",
        )
    return Response(200, run_view(existing, current_step=current_step(sfn, arn)))


def get_run(sfn: Any, state_machine_arn: str, run_name: str) -> Response:
    """GET /runs/{runName}: status, current step, times, outputs or failure reason."""
    arn = execution_arn(state_machine_arn, _execution_name_param(run_name))
    execution = _describe(sfn, arn, run_name)
    return Response(200, run_view(execution, current_step=current_step(sfn, arn)))


def list_runs(sfn: Any, state_machine_arn: str, query: Mapping[str, str] | None) -> Response:
    """GET /runs: newest first, ``limit`` per page, ``nextToken`` to continue."""
    limit, status, token = list_query(query)
    kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": limit}
    if status:
        kwargs["statusFilter"] = status
    if token:
        kwargs["nextToken"] = token
    try:
        page = _call(sfn.list_executions, **kwargs)
    except ClientError as exc:
        if error_code(exc) == "InvalidToken":
            raise ApiFailure(
                400,
                ErrorCode.INVALID_PARAMETER,
                "nextToken is not valid (expired, or from another listing)",
                (FieldProblem("nextToken", "pass the nextToken of the previous page unchanged"),),
            ) from None
        raise
    runs = [
        {
            "runName": _list_run_name(sfn, item),
            "executionArn": item["executionArn"],
            "status": item["status"],
            "startedAt": _iso(item.get("startDate")),
            "stoppedAt": _iso(item.get("stopDate")),
        }
        for item in page.get("executions", [])
    ]
    return Response(200, {"runs": runs, "nextToken": page.get("nextToken")})


def stop_run(sfn: Any, state_machine_arn: str, run_name: str, caller: str | None) -> Response:
    """POST /runs/{runName}/stop: 202 while the workflow stops; 200 if already stopped."""
    arn = execution_arn(state_machine_arn, _execution_name_param(run_name))
    execution = _describe(sfn, arn, run_name)
    if execution["status"] == RunStatus.ABORTED:
        return Response(200, run_view(execution, current_step=None))
    if execution["status"] != RunStatus.RUNNING:
        raise ApiFailure(
            409,
            ErrorCode.RUN_NOT_RUNNING,
            f"run {run_name!r} already ended with status {execution['status']}; nothing to stop",
        )
    _call(
        sfn.stop_execution,
        executionArn=arn,
        error=STOP_ERROR,
        cause=f"stopped through the trigger API by {caller or 'an unidentified caller'}",
    )
    return Response(202, run_view(_describe(sfn, arn, run_name), current_step=None))


# -- Step Functions helpers ------------------------------------------------------------------


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:...:stateMachine:SM -> arn:...:execution:SM:NAME (the documented ARN layout)."""
    prefix, sep, machine = state_machine_arn.rpartition(":stateMachine:")
    if not sep:
        raise ValueError(f"{state_machine_arn!r} is not a state machine ARN")
    return f"{prefix}:execution:{machine}:{name}"


def current_step(sfn: Any, arn: str) -> str | None:
    """Name of the state entered last, from the newest history events."""
    page = _call(
        sfn.get_execution_history,
        executionArn=arn,
        reverseOrder=True,
        maxResults=HISTORY_PAGE,
        includeExecutionData=False,
    )
    entered = [e for e in page.get("events", []) if "stateEnteredEventDetails" in e]
    if not entered:
        return None
    # The newest by id: do not rely on the page's order alone (emulators ignore reverseOrder).
    newest = max(entered, key=lambda e: e["id"])
    return str(newest["stateEnteredEventDetails"]["name"])


def run_view(execution: Mapping[str, Any], *, current_step: str | None) -> dict[str, Any]:
    stored = _stored_input(execution)
    view: dict[str, Any] = {
        "runName": stored.get("runName") or execution["name"],
        "executionArn": execution["executionArn"],
        "status": execution["status"],
        "currentStep": current_step,
        "startedAt": _iso(execution.get("startDate")),
        "stoppedAt": _iso(execution.get("stopDate")),
    }
    if execution["status"] == RunStatus.SUCCEEDED:
        result = _json_or_text(execution.get("output"))
        if isinstance(result, dict) and "outcome" in result:
            # The workflow's result summary (lambdas/notify): SUCCEEDED, or NOT_PROMOTED when
            # the evaluation gate kept the model back (with the reason).
            view["outcome"] = result["outcome"]
            view["outputs"] = result.get("outputs")
            if result.get("reason"):
                view["reason"] = result["reason"]
        else:
            view["outputs"] = result
    elif execution.get("error") or execution.get("cause"):
        view["error"] = execution.get("error")
        view["cause"] = execution.get("cause")
    return view


def _check_base_model(spec: RunSpec, allowed: tuple[str, ...]) -> None:
    """The prepare step's rule (lambdas/jobs/steps.py): the stage's list names Bedrock base
    models; container and import runs name architectures or weights of their own."""
    if spec.trainer != Trainer.BEDROCK or not allowed:
        return
    if inference_model_id(spec.base_model_id) not in {inference_model_id(m) for m in allowed}:
        message = (
            f"{spec.base_model_id!r} is not enabled in this stage; allowed: {', '.join(allowed)}"
        )
        raise ApiFailure(
            400,
            ErrorCode.VALIDATION_FAILED,
            f"the run document has 1 invalid field(s): baseModelId ({message})",
            (FieldProblem("baseModelId", message),),
        )


def _call(fn: Any, **kwargs: Any) -> Any:
    try:
        return call_with_retry(fn, backoff=RETRY_BACKOFF, **kwargs)
    except ClientError as exc:
        if is_retryable(exc):  # still throttled after our retries: let the client back off
            raise ApiFailure(
                429, ErrorCode.THROTTLED, "Step Functions is throttling; retry later"
            ) from exc
        raise


def _describe(sfn: Any, arn: str, run_name: str) -> dict[str, Any]:
    execution = _describe_or_none(sfn, arn)
    if execution is None:
        raise ApiFailure(404, ErrorCode.RUN_NOT_FOUND, f"no run named {run_name!r}")
    return execution


def _describe_or_none(sfn: Any, arn: str) -> dict[str, Any] | None:
    try:
        return dict(_call(sfn.describe_execution, executionArn=arn))
    except ClientError as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return None
        raise


def _execution_name_param(run_name: str) -> str:
    if not run_name or len(run_name) > 80:
        raise ApiFailure(
            400,
            ErrorCode.INVALID_PARAMETER,
            "runName must be 1-80 characters",
            (FieldProblem("runName", "1-80 characters"),),
        )
    return execution_name(run_name)


def _list_run_name(sfn: Any, item: Mapping[str, Any]) -> str:
    name = str(item["name"])
    if not _DERIVED_NAME.search(name):
        return name  # execution_name() kept the run name as it was
    described = _describe_or_none(sfn, item["executionArn"])
    return str(_stored_input(described or {}).get("runName") or name)


def _stored_input(execution: Mapping[str, Any]) -> dict[str, Any]:
    parsed = _json_or_text(execution.get("input"))
    return parsed if isinstance(parsed, dict) else {}


def _json_or_text(raw: Any) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None
