"""The evaluation step's three actions as pure functions over injected boto3 clients."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from bedrock_pipeline.evalset import EvalRecord
from bedrock_pipeline.metrics import Prediction
from bedrock_pipeline.promotion import decide
from bedrock_pipeline.report import build_report, render_files
from lambdas.evaluate import images, store
from lambdas.evaluate.config import Batch, EvaluatedModel, EvaluationConfig
from lambdas.evaluate.invoke import Answer, Invoker, build_prompt

# Errors that no record can cure: the model id is wrong or the role may not call it. The batch
# fails (after saving what it has) instead of writing the same error for every record.
FATAL_CODES: frozenset[str] = frozenset(
    {"AccessDeniedException", "ResourceNotFoundException", "UnrecognizedClientException"}
)
FLUSH_EVERY = 10  # results between rewrites of a batch file: bounded loss if the Lambda dies


class EvaluationAborted(RuntimeError):
    """A model cannot be called at all; the message names it and the error."""


def plan(config: EvaluationConfig, s3: Any, bucket: str) -> dict[str, Any]:
    """Validate the test set (formats, and its images' count and bucket) and split it into
    batches of ``batchSize`` record indexes."""
    records = store.load_test_set(s3, config.test_data_uri)
    images.check_test_set(records, config.test_data_uri)
    size = config.batch_size
    batches = [
        Batch(batch=k, start=start, stop=min(start + size, len(records))).model_dump()
        for k, start in enumerate(range(0, len(records), size))
    ]
    key = store.evaluation_prefix(config.run_id) + "plan.json"
    store.put_bytes(s3, bucket, key, json.dumps(batches).encode(), "application/json")
    return {
        "records": len(records),
        "batchCount": len(batches),
        "batches": batches,
        "planUri": f"s3://{bucket}/{key}",
    }


def result_row(record: EvalRecord, spec: EvaluatedModel, answer: Answer) -> dict[str, Any]:
    error = (
        None
        if answer.error_code is None
        else {"code": answer.error_code, "message": answer.error_message}
    )
    return {
        "index": record.index,
        "line": record.line,
        "model": spec.name,
        "modelId": spec.model_id,
        "api": answer.api,
        "output": answer.output,
        "outputTokens": answer.output_tokens,
        "inputTokens": answer.input_tokens,
        "latencyMs": answer.latency_ms,
        "stopReason": answer.stop_reason,
        "error": error,
    }


def run_batch(
    config: EvaluationConfig,
    batch: Batch,
    *,
    s3: Any,
    invoker: Invoker,
    bucket: str,
    time_left_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Answer every (record, model) of the batch that has no successful result yet.

    Results already in S3 without an error are kept and not asked again; earlier errors are
    retried. When the Lambda is about to run out of time the batch stops scheduling, saves
    what it has and returns ``complete: false``: calling it again resumes.
    """
    all_records = store.load_test_set(s3, config.test_data_uri)
    if batch.stop > len(all_records):
        raise ValueError(
            f"batch {batch.batch} ends at record {batch.stop} but {config.test_data_uri} holds "
            f"{len(all_records)}: the test set changed after planning; plan again"
        )
    records = all_records[batch.start : batch.stop]
    shots = (
        [
            s.conversation.turns
            for s in store.load_shots(s3, config.few_shot_uri, config.few_shot_count)
        ]
        if config.few_shot_uri
        else []
    )
    keys = {m.name: store.batch_key(config.run_id, m.name, batch.batch) for m in config.models}
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for spec in config.models:
        existing = store.read_results(s3, bucket, keys[spec.name])
        results[spec.name] = {i: r for i, r in existing.items() if r.get("error") is None}
    todo = [
        (record, spec)
        for record in records
        for spec in config.models
        if record.index not in results[spec.name]
    ]
    skipped = len(records) * len(config.models) - len(todo)
    # Stop scheduling while one more record can still finish inside the Lambda's time.
    margin_ms = config.record_timeout_s * 1000 + 5000
    dirty: set[str] = set()
    fatal: str | None = None
    pending = iter(todo)
    exhausted = False

    def flush() -> None:
        for name in sorted(dirty):
            store.write_results(s3, bucket, keys[name], results[name])
        dirty.clear()

    reader = images.ImageReader(s3)

    def ask(record: EvalRecord, spec: EvaluatedModel) -> Answer:
        prompt = build_prompt(record.conversation.system, record.prompt_turns, shots)
        if prompt.images:
            try:
                prompt = replace(prompt, image_bytes=reader.read(prompt.images))
            except images.ImageUnavailable as exc:
                return Answer(None, error_code=exc.code, error_message=str(exc))
        return invoker.answer(spec, prompt)

    since_flush = 0
    with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
        in_flight: dict[Future[Answer], tuple[EvalRecord, EvaluatedModel]] = {}
        while True:
            while not exhausted and fatal is None and len(in_flight) < config.concurrency:
                if time_left_ms is not None and time_left_ms() < margin_ms:
                    exhausted = True
                    break
                item = next(pending, None)
                if item is None:
                    exhausted = True
                    break
                in_flight[pool.submit(ask, *item)] = item
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                record, spec = in_flight.pop(future)
                answer = future.result()
                results[spec.name][record.index] = result_row(record, spec, answer)
                dirty.add(spec.name)
                since_flush += 1
                if answer.error_code in FATAL_CODES and fatal is None:
                    fatal = (
                        f"model {spec.name} ({spec.model_id}): "
                        f"{answer.error_code}: {answer.error_message}"
                    )
            if since_flush >= FLUSH_EVERY:
                flush()
                since_flush = 0
    flush()
    if fatal is not None:
        raise EvaluationAborted(fatal)
    rows = [r for per_model in results.values() for r in per_model.values()]
    errors = sum(1 for r in rows if r["error"] is not None)
    done = sum(1 for r in rows if r["error"] is None)
    remaining = len(records) * len(config.models) - done - errors
    return {
        "batch": batch.batch,
        "complete": remaining == 0,
        "answered": done,
        "errors": errors,
        "skipped": skipped,
        "remaining": remaining,
    }


def _prediction(row: dict[str, Any] | None) -> Prediction:
    if row is None:
        return Prediction(None, error="no result: the batch holding this record did not run")
    if row.get("error"):
        return Prediction(None, error=f"{row['error']['code']}: {row['error']['message']}")
    return Prediction(row["output"], row.get("outputTokens"), row.get("latencyMs"))


def report(config: EvaluationConfig, *, s3: Any, bucket: str) -> dict[str, Any]:
    """Aggregate every batch file, write report.json/.md/.png, apply the decision gate."""
    records = store.load_test_set(s3, config.test_data_uri)
    predictions = {}
    for spec in config.models:
        rows = store.read_model_results(s3, bucket, config.run_id, spec.name)
        predictions[spec.name] = [_prediction(rows.get(r.index)) for r in records]
    result = build_report(
        [[r.reference] for r in records],
        predictions,
        candidate="custom",
        baseline="base",
        questions=[r.question for r in records],
        example_count=config.example_count,
    )
    decision = decide(result, config.min_f1_gain, config.max_error_rate, config.decision_metric)
    result["decision"] = decision.as_dict()
    prefix = store.evaluation_prefix(config.run_id)
    files = render_files(result)
    for name, (data, content_type) in files.items():
        store.put_bytes(s3, bucket, prefix + name, data, content_type)
    models = result["models"]
    return {
        "decision": decision.decision,
        "reason": decision.reason,
        "reportUri": f"s3://{bucket}/{prefix}report.json",
        "metrics": {
            "records": result["records"],
            "decisionMetric": decision.metric,
            "gain": decision.gain,
            "answerScore": {n: m["answerScore"] for n, m in models.items()},
            "f1": {n: m["f1"] for n, m in models.items()},
            "exactMatch": {n: m["exactMatch"] for n, m in models.items()},
            "outputTokensMean": {n: m["outputTokens"]["mean"] for n, m in models.items()},
            "errors": {n: m["errors"] for n, m in models.items()},
            "f1Gain": decision.f1_gain,
            "outputTokenReduction": result["comparisons"]["base"]["outputTokenReduction"],
        },
    }
