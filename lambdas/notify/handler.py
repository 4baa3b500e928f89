"""Lambda entry point of the notify step (and of the rule for aborted / timed-out runs).

Events: ``{"outcome": "SUCCEEDED" | "NOT_PROMOTED" | "FAILED", "state": {...},
"executionArn": "..."}`` from the state machine, or an EventBridge "Step Functions Execution
Status Change" event. Returns the summary; on FAILED also ``failure {error, cause}`` for the
state machine's Fail state. Environment: ``TOPIC_ARN``, ``EVENT_BUS_NAME``.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from lambdas.notify.logic import publish, summarize

logger = Logger(service="notify")
tracer = Tracer(service="notify")
metrics = Metrics(service="notify")


# bedrock_pipeline.aws.retry owns backoff; botocore's own retries would multiply the attempts.
_CONFIG = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30
)


@cache
def _clients() -> tuple[Any, Any]:
    return boto3.client("sns", config=_CONFIG), boto3.client("events", config=_CONFIG)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = summarize(event)
    sns, events = _clients()
    publish(summary, sns=sns, events=events, topic_arn=os.environ["TOPIC_ARN"],
            bus_name=os.environ.get("EVENT_BUS_NAME", "default"))  # fmt: skip
    metrics.add_metric(
        name=f"Run{summary['outcome'].title().replace('_', '')}", unit=MetricUnit.Count, value=1
    )
    logger.info(
        "run finished", extra={"runName": summary.get("runName"), "outcome": summary["outcome"]}
    )
    if summary["outcome"] != "SUCCEEDED" and summary.get("error"):
        summary["failure"] = {"error": summary["error"], "cause": summary.get("reason", "")}
    return summary
