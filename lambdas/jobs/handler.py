"""Lambda entry point of the job driver: one function, five actions (see ``steps``).

Events (built by the state machine; ``state`` is the run state, ``kind`` one of
customization | training | import | throughput):
``{"action": "prepare", "document": {...}, "context": {"executionName", "startTime"}}``,
``{"action": "start" | "poll", "kind": K, "state": {...}}``,
``{"action": "release", "state": {...}}``,
``{"action": "cleanup", "state": {...}, "executionStartTime": "..."}`` or an EventBridge
"Step Functions Execution Status Change" event (aborted / timed-out executions).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from lambdas.jobs import steps
from lambdas.jobs.settings import Settings

logger = Logger(service="jobs")
tracer = Tracer(service="jobs")
metrics = Metrics(service="jobs")
# bedrock_pipeline.aws.retry owns backoff; botocore's own retries would multiply the attempts.
_CONFIG = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30
)


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _clients() -> dict[str, Any]:
    return {name: boto3.client(name, config=_CONFIG) for name in ("bedrock", "sagemaker", "s3")}


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = "cleanup" if "detail" in event else str(event.get("action"))
    kind = event.get("kind")
    logger.append_keys(action=action, kind=kind)
    if action == "prepare":
        return steps.prepare(event["document"], event.get("context") or {}, _settings())
    if action == "start":
        record = steps.start(str(kind), event["state"], _clients(), _settings())
        metrics.add_metric(
            name=f"{kind}Started", unit=MetricUnit.Count, value=0 if record["adopted"] else 1
        )
        return record
    if action == "poll":
        return steps.poll(str(kind), event["state"], _clients(), _settings())
    if action == "release":
        return steps.release(event["state"], _clients())
    if action == "cleanup":
        result = steps.cleanup(event, _clients(), _settings())
        logger.info("clean-up", extra=result)
        return result
    raise ValueError(f"unknown action {action!r}; allowed: prepare, start, poll, release, cleanup")
