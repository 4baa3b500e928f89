"""The evaluation step over moto S3: plan, batches (retries, failures, resume), report."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bedrock_pipeline.aws.retry import Backoff
from bedrock_pipeline.formats import FormatError
from lambdas.evaluate import steps, store
from lambdas.evaluate.config import Batch
from lambdas.evaluate.invoke import Invoker
from tests.support.evaluation import (
    BUCKET,
    DATA,
    TEST_RECORDS,
    FakeRuntime,
    client_error,
    jsonl,
    make_config,
)

FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.01)


def invoker(runtime: Any, config: Any, sleeps: list[float] | None = None) -> Invoker:
    record = sleeps if sleeps is not None else []
    return Invoker(
        runtime, config.inference, timeout_s=config.record_timeout_s, backoff=FAST,
        sleep=record.append,
    )  # fmt: skip


def run_all(s3: Any, config: Any, runtime: Any) -> list[dict[str, Any]]:
    plan = steps.plan(config, s3, BUCKET)
    return [
        steps.run_batch(config, Batch(**b), s3=s3, invoker=invoker(runtime, config), bucket=BUCKET)
        for b in plan["batches"]
    ]


def test_plan_splits_into_batches_and_writes_the_item_list(s3: Any) -> None:
    plan = steps.plan(make_config(), s3, BUCKET)
    assert plan["records"] == 5 and plan["batchCount"] == 3
    assert [(b["start"], b["stop"]) for b in plan["batches"]] == [(0, 2), (2, 4), (4, 5)]
    body = s3.get_object(Bucket=BUCKET, Key="runs/run-1/evaluation/plan.json")["Body"].read()
    assert json.loads(body) == plan["batches"]
    assert plan["planUri"] == "s3://artifacts/runs/run-1/evaluation/plan.json"


def test_plan_names_file_and_line_of_a_bad_record(s3: Any) -> None:
    bad = [*TEST_RECORDS[:2], {"input": "continued pre-training text"}]
    s3.put_object(Bucket=DATA, Key="test.jsonl", Body=jsonl(bad))
    with pytest.raises(FormatError, match=r"s3://data-bucket/test.jsonl:3: NO_PROMPT"):
        steps.plan(make_config(), s3, BUCKET)


def test_throttling_is_retried_with_backoff(s3: Any) -> None:
    config = make_config(concurrency=1)
    runtime = boto3.client("bedrock-runtime", region_name="us-east-1")
    ok = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Paris"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
        "metrics": {"latencyMs": 42},
    }
    sleeps: list[float] = []
    with Stubber(runtime) as stub:
        # custom is asked first (candidate first), then base; custom is throttled twice.
        stub.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
        stub.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
        stub.add_response("converse", ok, {
            "modelId": config.custom_model_id,
            "messages": [{"role": "user", "content": [{"text": "Capital of France?"}]}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0.0},
        })  # fmt: skip
        stub.add_response("converse", ok)
        result = steps.run_batch(
            config, Batch(batch=0, start=0, stop=1), s3=s3,
            invoker=invoker(runtime, config, sleeps), bucket=BUCKET,
        )  # fmt: skip
        stub.assert_no_pending_responses()
    assert result == {"batch": 0, "complete": True, "answered": 2, "errors": 0, "skipped": 0,
                      "remaining": 0}  # fmt: skip
    assert len(sleeps) == 2
    row = store.read_results(s3, BUCKET, "runs/run-1/evaluation/custom/batch-0.jsonl")[0]
    assert (row["output"], row["outputTokens"], row["latencyMs"]) == ("Paris", 1, 42.0)


def test_one_failing_record_does_not_fail_the_run(s3: Any) -> None:
    def fail(question: str, model: str) -> Any:
        if question.startswith("Colour") and "custom" in model:
            return client_error("ValidationException", "Input is too long")
        return None

    config = make_config(maxErrorRate=0.25)
    results = run_all(s3, config, FakeRuntime(fail))
    assert sum(r["errors"] for r in results) == 1
    assert all(r["complete"] for r in results)
    row = store.read_results(s3, BUCKET, "runs/run-1/evaluation/custom/batch-1.jsonl")[3]
    assert row["error"] == {"code": "ValidationException", "message": "Input is too long"}
    out = steps.report(config, s3=s3, bucket=BUCKET)
    assert out["metrics"]["errors"] == {"custom": 1, "base": 0}
    assert out["metrics"]["f1"]["custom"] == pytest.approx(0.8)  # 4 of 5 exact, 1 error
    assert out["decision"] == "promoted"


def test_second_invocation_resumes_without_asking_finished_records(s3: Any) -> None:
    config = make_config(batchSize=5, concurrency=1)
    batch = Batch(batch=0, start=0, stop=5)
    first = FakeRuntime()
    budget = iter([10**6] * 4 + [0] * 100)  # four calls fit, then the Lambda runs short
    partial = steps.run_batch(
        config, batch, s3=s3, invoker=invoker(first, config), bucket=BUCKET,
        time_left_ms=lambda: next(budget),
    )  # fmt: skip
    assert partial["complete"] is False and partial["remaining"] == 6
    assert len(first.calls) == 4

    second = FakeRuntime()
    final = steps.run_batch(config, batch, s3=s3, invoker=invoker(second, config), bucket=BUCKET)
    assert final["complete"] is True and final["skipped"] == 4
    assert len(second.calls) == 6
    assert not set(first.calls) & set(second.calls)  # nothing asked twice


def test_errors_are_retried_on_the_next_invocation_but_successes_are_not(s3: Any) -> None:
    config = make_config(batchSize=5)
    batch = Batch(batch=0, start=0, stop=5)
    flaky = FakeRuntime(lambda q, m: client_error("ModelErrorException") if "Total" in q else None)
    steps.run_batch(config, batch, s3=s3, invoker=invoker(flaky, config), bucket=BUCKET)
    healed = FakeRuntime()
    result = steps.run_batch(config, batch, s3=s3, invoker=invoker(healed, config), bucket=BUCKET)
    assert sorted(q for _, _, q in healed.calls) == ["Total revenue?", "Total revenue?"]
    assert result == {"batch": 0, "complete": True, "answered": 10, "errors": 0, "skipped": 8,
                      "remaining": 0}  # fmt: skip


def test_access_denied_aborts_the_batch_after_saving_results(s3: Any) -> None:
    config = make_config(batchSize=5, concurrency=1)
    denied = FakeRuntime(
        lambda q, m: client_error("AccessDeniedException", "not allowed") if "meta" in m else None
    )
    with pytest.raises(steps.EvaluationAborted, match=r"model base .*AccessDeniedException"):
        steps.run_batch(
            config, Batch(batch=0, start=0, stop=5), s3=s3, invoker=invoker(denied, config),
            bucket=BUCKET,
        )  # fmt: skip
    saved = store.read_results(s3, BUCKET, "runs/run-1/evaluation/custom/batch-0.jsonl")
    assert saved[0]["output"] == "Paris"
    assert len(denied.calls) == 2  # no further record was asked


def test_report_counts_records_of_batches_that_never_ran(s3: Any) -> None:
    config = make_config()
    steps.run_batch(
        config, Batch(batch=0, start=0, stop=2), s3=s3, invoker=invoker(FakeRuntime(), config),
        bucket=BUCKET,
    )  # fmt: skip
    out = steps.report(config, s3=s3, bucket=BUCKET)
    assert out["metrics"]["errors"] == {"custom": 3, "base": 3}
    assert out["decision"] == "not-promoted"
    assert "failed on 3 of 5 records" in out["reason"]


def test_report_writes_three_files_and_a_small_result(s3: Any) -> None:
    config = make_config(comparisonModels=[{"name": "large", "modelId": "meta.llama3-3-70b"}])
    run_all(s3, config, FakeRuntime())
    out = steps.report(config, s3=s3, bucket=BUCKET)
    assert out["decision"] == "promoted" and out["reportUri"].endswith("evaluation/report.json")
    assert set(out["metrics"]["f1"]) == {"custom", "base", "large"}
    assert out["metrics"]["decisionMetric"] == "answerScore"
    assert set(out["metrics"]["answerScore"]) == {"custom", "base", "large"}
    assert out["metrics"]["outputTokenReduction"] > 0.5
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    for name in ("report.json", "report.md", "report.png"):
        assert f"runs/run-1/evaluation/{name}" in keys
    report = json.loads(
        s3.get_object(Bucket=BUCKET, Key="runs/run-1/evaluation/report.json")["Body"].read()
    )
    assert report["models"]["custom"]["f1"] == 1.0
    assert report["decision"]["decision"] == "promoted"
    assert set(report["comparisons"]) == {"base", "large"}
    assert len(json.dumps(out)) < 2000  # stays far below the Step Functions payload limit
    by_f1 = steps.report(make_config(decisionMetric="f1"), s3=s3, bucket=BUCKET)
    assert by_f1["metrics"]["decisionMetric"] == "f1" and by_f1["reason"].startswith("F1 ")


def test_a_batch_past_the_end_of_the_test_set_is_refused(s3: Any) -> None:
    config = make_config()
    with pytest.raises(ValueError, match="holds 5: the test set changed after planning"):
        steps.run_batch(
            config, Batch(batch=3, start=6, stop=8), s3=s3,
            invoker=invoker(FakeRuntime(), config), bucket=BUCKET,
        )  # fmt: skip


class _ThrottlingLister:
    """ListObjectsV2 that throttles once, then serves two pages."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if len(self.calls) == 1:
            raise client_error("SlowDown", "reduce your request rate", "ListObjectsV2")
        if "ContinuationToken" not in kwargs:
            return {"Contents": [{"Key": "a"}], "IsTruncated": True, "NextContinuationToken": "t"}
        return {"Contents": [{"Key": "b"}], "IsTruncated": False}


def test_listing_batch_files_retries_throttling_and_follows_pages() -> None:
    s3 = _ThrottlingLister()
    assert list(store.list_keys(s3, BUCKET, "runs/run-1/evaluation/custom/")) == ["a", "b"]
    assert [c.get("ContinuationToken") for c in s3.calls] == [None, None, "t"]
