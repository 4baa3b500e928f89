"""Lambda entry point of the job driver: one function, five actions (see ``steps``).

Events (built by the state machine; ``state`` is the run state, ``bedrock_pipeline.run_state``;
``kind`` one of customization | training | import | throughput; actions ``contract.JobsAction``):
``{"action": "prepare", "document": {...}, "context": {"executionName", "startTime"}}``,
``{"action": "start" | "poll", "kind": K, "state": {...}}``,
``{"action": "release", "state": {...}}``,
``{"action": "cleanup", "state": {...}, "executionStartTime": "..."}`` or an EventBridge
"Step Functions Execution Status Change" event (aborted / timed-out executions).
Environment: ``Settings`` (``contract.JobsEnv``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_pipeline.contract import JobsAction
from bedrock_pipeline.run_state import RunState
from lambdas.common.clients import OWN_RETRIES, client
from lambdas.common.observability import instrument, logger, metrics
from lambdas.jobs import steps
from lambdas.jobs.settings import Settings


@cache
def _environment() -> Settings:
    return Settings.from_env()


@cache
def _clients() -> dict[str, Any]:
    return {name: client(name, OWN_RETRIES) for name in ("bedrock", "sagemaker", "s3")}


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = JobsAction.CLEANUP if "detail" in event else str(event.get("action"))
    kind = event.get("kind")
    logger.append_keys(action=action, kind=kind)
    if action == JobsAction.PREPARE:
        return steps.prepare(event["document"], event.get("context") or {}, _environment())
    if action in (JobsAction.START, JobsAction.POLL, JobsAction.RELEASE):
        # The state the workflow built: a shape error fails here, naming the key.
        RunState.model_validate(event["state"])
    if action == JobsAction.START:
        record = steps.start(str(kind), event["state"], _clients(), _environment())
        metrics.add_metric(
            name=f"{kind}Started", unit=MetricUnit.Count, value=0 if record["adopted"] else 1
        )
        return record
    if action == JobsAction.POLL:
        return steps.poll(str(kind), event["state"], _clients(), _environment())
    if action == JobsAction.RELEASE:
        return steps.release(event["state"], _clients())
    if action == JobsAction.CLEANUP:
        result = steps.cleanup(event, _clients(), _environment())
        logger.info("clean-up", extra=result)
        return result
    raise ValueError(
        f"unknown action {action!r}; allowed: {', '.join(a.value for a in JobsAction)}"
    )
