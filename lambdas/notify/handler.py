"""Lambda entry point of the notify step (and of the rule for aborted / timed-out runs).

Events: ``{"outcome": "SUCCEEDED" | "NOT_PROMOTED" | "FAILED", "state": {...},
"executionArn": "..."}`` from the state machine (``contract.Outcome``; ``state`` is the run
state, ``bedrock_pipeline.run_state``), or an EventBridge "Step Functions Execution Status
Change" event. Returns the summary; on FAILED also ``failure {error, cause}`` for the state
machine's Fail state. Environment: ``NotifyEnvironment`` (``contract.NotifyEnv``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.clients import OWN_RETRIES, client
from lambdas.common.environment import FunctionEnvironment, parse_environment
from lambdas.common.observability import instrument, logger, metrics
from lambdas.notify.logic import publish, summarize


class NotifyEnvironment(FunctionEnvironment):
    TOPIC_ARN: str  # the runs' SNS topic
    EVENT_BUS_NAME: str = "default"  # where the run events go


@cache
def _environment() -> NotifyEnvironment:
    return parse_environment(NotifyEnvironment)


@cache
def _clients() -> tuple[Any, Any]:
    return client("sns", OWN_RETRIES), client("events", OWN_RETRIES)


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = summarize(event)
    sns, events = _clients()
    env = _environment()
    publish(summary, sns=sns, events=events, topic_arn=env.TOPIC_ARN, bus_name=env.EVENT_BUS_NAME)
    metrics.add_metric(
        name=f"Run{summary['outcome'].title().replace('_', '')}", unit=MetricUnit.Count, value=1
    )
    logger.info(
        "run finished", extra={"runName": summary.get("runName"), "outcome": summary["outcome"]}
    )
    if summary["outcome"] != "SUCCEEDED" and summary.get("error"):
        summary["failure"] = {"error": summary["error"], "cause": summary.get("reason", "")}
    return summary
