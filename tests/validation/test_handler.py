"""The validate step against moto S3: report written, typed error, the workflow's contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.validate import handler as handler_module
from lambdas.validate.logic import DatasetValidationError, run_validation

BUCKET, ARTIFACTS = "team-data", "team-artifacts"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def haiku(i: int) -> str:
    return json.dumps(
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
    )


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (BUCKET, ARTIFACTS):
            client.create_bucket(Bucket=bucket)
        yield client


def put(s3: Any, key: str, lines: list[str]) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body="".join(line + "\n" for line in lines).encode())
    return f"s3://{BUCKET}/{key}"


def event(**extra: Any) -> dict[str, Any]:
    return {
        "runName": "run-1",
        "baseModelId": HAIKU,
        "customizationType": "FINE_TUNING",
        "trainer": "bedrock",
        **extra,
    }


def stored_report(s3: Any) -> dict[str, Any]:
    body = s3.get_object(Bucket=ARTIFACTS, Key="runs/run-1/validation-report.json")["Body"].read()
    return json.loads(body)


def test_valid_run_returns_string_hyperparameters_and_writes_report(s3: Any) -> None:
    train = put(s3, "train.jsonl", [haiku(i) for i in range(40)])
    val = put(s3, "val.jsonl", [haiku(i) for i in range(100, 132)])
    result = run_validation(
        event(
            trainingDataUri=train,
            validationDataUri=val,
            hyperParameters={"epochCount": 3, "batchSize": "8"},
        ),
        s3=s3,
        artifacts_bucket=ARTIFACTS,
    )
    assert result["valid"] is True
    assert result["reportUri"] == f"s3://{ARTIFACTS}/runs/run-1/validation-report.json"
    assert result["hyperParameters"]["epochCount"] == "3"
    assert all(isinstance(v, str) for v in result["hyperParameters"].values())
    assert result["summary"]["trainRecords"] == 40 and result["summary"]["validationRecords"] == 32
    assert len(json.dumps(result)) < 1024  # travels in the state machine's state
    report = stored_report(s3)
    assert report["valid"] and report["files"][0]["path"] == train


def test_invalid_run_raises_typed_error_with_lines_and_report_uri(s3: Any) -> None:
    lines = (
        [haiku(i) for i in range(40)] + ["{bad json"] * 30 + ['{"prompt": "p", "completion": "c"}']
    )
    train = put(s3, "train.jsonl", lines)
    with pytest.raises(DatasetValidationError) as err:
        run_validation(
            event(trainingDataUri=train, hyperParameters={"epochs": 2}),
            s3=s3,
            artifacts_bucket=ARTIFACTS,
        )
    message = str(err.value)
    assert type(err.value).__name__ == "DatasetValidationError"  # the Step Functions error name
    assert message.startswith("32 validation error(s):\n")
    assert f"{train}:41: INVALID_JSON: " in message and "UNKNOWN_HYPERPARAMETER" in message
    assert message.rstrip().endswith(
        f"full report: s3://{ARTIFACTS}/runs/run-1/validation-report.json"
    )
    assert "... and 25 more" in message and len(message) < 32 * 1024
    report = stored_report(s3)
    counts = report["countsByCode"]
    assert (
        counts["INVALID_JSON"],
        counts["FORMAT_MISMATCH"],
        counts["UNKNOWN_HYPERPARAMETER"],
    ) == (30, 1, 1)
    assert report["errorCount"] == 32 and len(report["examples"]["INVALID_JSON"]) == 5


def test_missing_object_is_a_validation_error(s3: Any) -> None:
    with pytest.raises(DatasetValidationError) as err:
        run_validation(
            event(trainingDataUri=f"s3://{BUCKET}/nope.jsonl"), s3=s3, artifacts_bucket=ARTIFACTS
        )
    assert "nope.jsonl:0: UNREADABLE: cannot read: no such object" in str(err.value)


def test_unknown_model_is_a_validation_error(s3: Any) -> None:
    train = put(s3, "train.jsonl", [haiku(1)])
    with pytest.raises(DatasetValidationError) as err:
        run_validation(
            event(baseModelId="gpt-4", trainingDataUri=train), s3=s3, artifacts_bucket=ARTIFACTS
        )
    assert "baseModelId:0: UNKNOWN_MODEL: unknown base model 'gpt-4'; allowed: " in str(err.value)
    assert stored_report(s3)["valid"] is False


def test_nova_images_must_sit_in_the_dataset_bucket(s3: Any) -> None:
    def record(bucket: str, i: int) -> str:
        image = {"format": "png", "source": {"s3Location": {"uri": f"s3://{bucket}/img/{i}.png"}}}
        messages = [
            {"role": "user", "content": [{"text": f"q{i}"}, {"image": image}]},
            {"role": "assistant", "content": [{"text": "a"}]},
        ]
        return json.dumps({"schemaVersion": "bedrock-conversation-2024", "messages": messages})

    train = put(
        s3,
        "nova.jsonl",
        [record(BUCKET, 1), record("elsewhere", 2)] + [record(BUCKET, i) for i in range(3, 9)],
    )
    with pytest.raises(DatasetValidationError) as err:
        run_validation(
            event(baseModelId="amazon.nova-lite-v1:0:300k", trainingDataUri=train),
            s3=s3,
            artifacts_bucket=ARTIFACTS,
        )
    assert (
        f"{train}:2: IMAGE_BUCKET: messages[0].content[1].image: image s3://elsewhere/img/2.png"
        in str(err.value)
    )


def test_container_hyperparameters_come_from_the_container_block(s3: Any) -> None:
    train = put(s3, "train.jsonl", [haiku(i) for i in range(3)])
    container = {
        "baseWeightsUri": "s3://w/llama/",
        "hyperParameters": {"loraRank": 64, "epochCount": 2},
    }
    doc = event(
        baseModelId="container/llama3",
        trainer="container",
        trainingDataUri=train,
        container=container,
    )
    result = run_validation(doc, s3=s3, artifacts_bucket=ARTIFACTS)
    assert (result["hyperParameters"]["loraRank"], result["hyperParameters"]["epochCount"]) == (
        "64",
        "2",
    )
    doc["container"]["hyperParameters"] = {"loraRank": -1}
    expected = "HYPERPARAMETER_RANGE: hyperparameter 'loraRank' = -1: must be an integer >= 1"
    with pytest.raises(DatasetValidationError, match=expected):
        run_validation(doc, s3=s3, artifacts_bucket=ARTIFACTS)


def test_batch_that_cannot_split_over_the_gpus_is_invalid(s3: Any) -> None:
    train = put(s3, "train.jsonl", [haiku(i) for i in range(3)])
    container = {"baseWeightsUri": "s3://w/llama/",
                 "hyperParameters": {"batchSize": 6, "microBatchSize": 4}}  # fmt: skip
    doc = event(baseModelId="container/llama3", trainer="container", trainingDataUri=train,
                container=container, gpus=4)  # fmt: skip
    expected = r"BATCH_LAYOUT: batchSize=6: must be a multiple of microBatchSize \(4\) x GPUs \(4\)"
    with pytest.raises(DatasetValidationError, match=expected):
        run_validation(doc, s3=s3, artifacts_bucket=ARTIFACTS)


def test_import_trainer_skips_data(s3: Any) -> None:
    result = run_validation(
        {
            "runName": "run-1",
            "baseModelId": "my-weights",
            "customizationType": "FINE_TUNING",
            "trainer": "import",
            "modelDataUri": "s3://x/y/",
        },
        s3=s3,
        artifacts_bucket=ARTIFACTS,
    )
    assert result["valid"] and result["hyperParameters"] == {}
    assert stored_report(s3)["trainer"] == "import"


def test_bad_event_is_rejected_before_any_read(s3: Any) -> None:
    with pytest.raises(Exception, match="customizationType"):
        run_validation(
            event(customizationType="PRETRAIN", trainingDataUri="s3://a/b"),
            s3=s3,
            artifacts_bucket=ARTIFACTS,
        )


class _Context:
    function_name, memory_limit_in_mb, aws_request_id = "validate", 1024, "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:validate"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def test_handler_adapter(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACTS_BUCKET", ARTIFACTS)
    monkeypatch.setattr(handler_module, "_s3", lambda: s3)
    train = put(s3, "train.jsonl", [haiku(i) for i in range(40)])
    result = handler_module.handler(event(trainingDataUri=train), _Context())  # type: ignore[arg-type]
    assert result["valid"] and result["summary"]["trainRecords"] == 40
    with pytest.raises(DatasetValidationError):
        handler_module.handler(event(trainingDataUri=put(s3, "bad.jsonl", ["{"])), _Context())  # type: ignore[arg-type]
