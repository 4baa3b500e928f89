"""Evaluation step: base versus customized model on the held-out test set.

Contract for the state machine (one Lambda, three actions; ``config`` is the same object in all):

    config = {
      "runId": "r-2026-01-01", "testDataUri": "s3://bucket/test.jsonl",
      "baseModelId": "meta.llama3-2-1b-instruct-v1:0",
      "customModelId": "<provisioned | imported | custom model deployment ARN>",
      "customModelApi": "auto",                  # auto | converse | invoke
      "comparisonModels": [{"name": "large", "modelId": "...", "api": "converse"}],   # optional
      "fewShotCount": 0, "fewShotUri": "s3://bucket/train.jsonl",                    # optional
      "inference": {"maxTokens": 512, "temperature": 0.0},                           # optional
      "batchSize": 50, "concurrency": 4, "recordTimeoutS": 60,                       # optional
      "minF1Gain": 0.01, "maxErrorRate": 0.05, "exampleCount": 5,                    # optional
      "decisionMetric": "answerScore"            # answerScore | f1 | exactMatch | numericMatch
    }

1. ``{"action": "plan", "config": config}`` ->
   ``{"records": N, "batchCount": K, "batches": [{"batch": k, "start": i, "stop": j}, ...],
   "planUri": "s3://ARTIFACTS/runs/<run>/evaluation/plan.json"}`` (the same list as a JSON
   array, for a Distributed Map ItemReader). A malformed test set fails here, naming file/line.
2. ``{"action": "run_batch", "config": config, "batch": <one item of batches>}`` ->
   ``{"batch": k, "complete": bool, "answered": n, "errors": n, "skipped": n, "remaining": n}``.
   Writes ``runs/<run>/evaluation/<model>/batch-<k>.jsonl`` as it goes (models: ``custom``,
   ``base`` and each comparison name). Idempotent: a retry keeps successful results and asks
   only the rest. ``complete: false`` means the Lambda ran short of time; invoke again with
   the same input (a Choice loop, or a Retry on the Map item) to resume. A record that fails is
   written as an error and does not fail the batch; only AccessDenied / ResourceNotFound /
   UnrecognizedClient (no record can succeed) raise ``EvaluationAborted``.
3. ``{"action": "report", "config": config}`` ->
   ``{"decision": "promoted" | "not-promoted", "reason": "...",
   "reportUri": "s3://ARTIFACTS/runs/<run>/evaluation/report.json",
   "metrics": {"records", "decisionMetric", "gain", "answerScore": {model: x}, "f1": {...},
   "exactMatch": {...}, "outputTokensMean": {...}, "errors": {...}, "f1Gain",
   "outputTokenReduction"}}``; also writes report.md and report.png.
   On ``not-promoted`` the workflow deletes the provisioned throughput and ends.

Invalid input raises pydantic ``ValidationError`` (the field and what is allowed). Environment:
``EvaluateEnvironment`` (``contract.EvaluateEnv``). Permissions: s3:GetObject on the test (and
few-shot) objects and the images their records name, s3:GetObject/PutObject/ListBucket on the
run prefix, bedrock:InvokeModel on every model (Converse uses the same action).

Records with images (Converse ``image`` blocks naming ``s3Location.uri``) are sent through
Converse with each image's bytes; a record whose image cannot be sent is written with its own
error (``ImageRefused``, ``ImageUnreadable``, ``ImagesNotSupported``; docs/evaluation.md).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.clients import S3_OWN_RETRIES, client, model_runtime
from lambdas.common.environment import FunctionEnvironment, parse_environment
from lambdas.common.observability import instrument, logger, metrics
from lambdas.evaluate import steps
from lambdas.evaluate.config import EvaluateEvent, PlanEvent, RunBatchEvent
from lambdas.evaluate.invoke import Invoker


class EvaluateEnvironment(FunctionEnvironment):
    ARTIFACTS_BUCKET: str  # where plans, answers and reports go (runs/<run>/evaluation/)


@cache
def _environment() -> EvaluateEnvironment:
    return parse_environment(EvaluateEnvironment)


@cache
def _s3() -> Any:
    return client("s3", S3_OWN_RETRIES)  # every call goes through call_with_retry


@cache
def _runtime(timeout_s: float) -> Any:
    return client("bedrock-runtime", model_runtime(timeout_s))


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = EvaluateEvent.model_validate({"event": event}).event
    bucket = _environment().ARTIFACTS_BUCKET
    config = parsed.config
    logger.append_keys(run_id=config.run_id, action=parsed.action)
    if isinstance(parsed, PlanEvent):
        result = steps.plan(config, _s3(), bucket)
    elif isinstance(parsed, RunBatchEvent):
        invoker = Invoker(
            _runtime(config.record_timeout_s), config.inference, timeout_s=config.record_timeout_s
        )
        result = steps.run_batch(
            config,
            parsed.batch,
            s3=_s3(),
            invoker=invoker,
            bucket=bucket,
            time_left_ms=context.get_remaining_time_in_millis,
        )
    else:
        result = steps.report(config, s3=_s3(), bucket=bucket)
    _add_metrics(result)
    logger.info(
        "evaluation step done",
        extra={"result": {k: v for k, v in result.items() if k != "batches"}},
    )
    return result


def _add_metrics(result: dict[str, Any]) -> None:
    """EvaluationRecords (plan), EvaluationErrors (run_batch), EvaluationPromoted or
    EvaluationNotPromoted (report)."""
    if "batches" in result:
        metrics.add_metric(name="EvaluationRecords", unit=MetricUnit.Count, value=result["records"])
    elif "decision" in result:
        promoted = result["decision"] == "promoted"
        name = "EvaluationPromoted" if promoted else "EvaluationNotPromoted"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="EvaluationErrors", unit=MetricUnit.Count, value=result["errors"])
