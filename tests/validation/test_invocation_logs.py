"""Distillation from invocation logs: the checks of AWS's distillation validator per log, the
request-metadata filters, the counts, and the validate step over moto S3."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.client.cli import main
from bedrock_pipeline.invocation_logs import matches, unusable
from bedrock_pipeline.registry import get_model
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_invocation_log_run
from lambdas.validate.logic import DatasetValidationError, run_validation
from tests.validation.test_handler import ARTIFACTS, BUCKET, s3  # noqa: F401  (fixture)

NOVA_LITE = get_model("amazon.nova-lite-v1:0:300k")
TEACHER = "amazon.nova-pro-v1:0"


def log(i: int, *, project: str = "faq", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "modelId": TEACHER,
        "operation": "Converse",
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": f"Q{i}?"}]}]},
        },
        "output": {"outputBodyJson": {"output": {"message": {"content": [{"text": f"A{i}"}]}}}},
        "requestMetadata": {"project": project},
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def config(filters: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {"invocationLogSource": {"s3Uri": "s3://team-logs/AWSLogs/"}}
    if filters:
        cfg["requestMetadataFilters"] = filters
    return cfg


def gz(path: Path, records: list[Any]) -> LocalFile:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    return LocalFile(str(path))


TWO_TURNS = {
    "messages": [
        {"role": "user", "content": [{"text": "a"}]},
        {"role": "assistant", "content": [{"text": "b"}]},
        {"role": "user", "content": [{"text": "c"}]},
    ]
}
IMAGE_PROMPT = {"messages": [{"role": "user", "content": [{"text": "a"}, {"image": {}}]}]}


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (log(1, modelId=None), "modelId"),
        (log(1, output=None), "output"),
        (log(1, input={"inputBodyJson": TWO_TURNS}), "input.inputBodyJson.messages[2]"),
        (log(1, input={"inputBodyJson": IMAGE_PROMPT}), "input.inputBodyJson.messages[0].content"),
    ],
)
def test_unusable_logs_name_the_field(record: dict[str, Any], field: str) -> None:
    problem = unusable(record)
    assert problem is not None and problem[0] == field


def test_usable_logs() -> None:
    assert unusable(log(1)) is None
    prompt_body = log(1, input={"inputBodyJson": {"prompt": "<|begin_of_text|>Q?"}})
    assert unusable(prompt_body) is None  # InvokeModel bodies (the validator README's example)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (None, True),
        ({"equals": {"project": "faq"}}, True),
        ({"equals": {"project": "web"}}, False),
        ({"notEquals": {"project": "faq"}}, False),
        ({"andAll": [{"equals": {"project": "faq"}}, {"notEquals": {"stage": "test"}}]}, True),
        ({"andAll": [{"equals": {"project": "faq"}}, {"equals": {"stage": "prod"}}]}, False),
        ({"orAll": [{"equals": {"project": "web"}}, {"equals": {"project": "faq"}}]}, True),
    ],
)
def test_request_metadata_filters(filters: dict[str, Any] | None, expected: bool) -> None:
    assert matches(filters, {"project": "faq"}) is expected


def test_counts_only_usable_matching_logs(tmp_path: Path) -> None:
    records = [log(i) for i in range(100)] + [log(i, project="web") for i in range(5)]
    records.insert(3, log(0, output=None))
    source = gz(tmp_path / "a.json.gz", records)
    report = validate_invocation_log_run(
        [source], config({"equals": {"project": "faq"}}), model=NOVA_LITE, teacher_id=TEACHER
    )
    assert report.valid, [str(i) for i in report.issues("error")]
    skipped = report.issues("warning")
    assert [(i.code, i.line, i.field) for i in skipped] == [("LOG_RECORD_SKIPPED", 4, "output")]
    assert report.files[0].valid_records == 105


def test_too_few_matching_logs_is_an_error(tmp_path: Path) -> None:
    source = gz(tmp_path / "a.json.gz", [log(i) for i in range(99)] + [log(1, project="web")])
    report = validate_invocation_log_run(
        [source], config({"equals": {"project": "faq"}}), model=NOVA_LITE, teacher_id=TEACHER
    )
    assert [(i.code, i.line) for i in report.issues("error")] == [("TOO_FEW_RECORDS", 0)]
    assert "99 usable invocation logs" in report.issues("error")[0].message


def test_settings_are_checked_as_for_a_prompt_file(tmp_path: Path) -> None:
    source = gz(tmp_path / "a.json.gz", [log(i) for i in range(100)])
    report = validate_invocation_log_run(
        [source], config(), model=NOVA_LITE, teacher_id="meta.llama3-1-70b-instruct-v1:0"
    )
    assert [i.code for i in report.issues("error")] == ["UNSUPPORTED_TEACHER"]


def test_validate_step_reads_the_log_prefix(s3: Any) -> None:  # noqa: F811
    s3.create_bucket(Bucket="team-logs")
    body = "".join(json.dumps(log(i)) + "\n" for i in range(60)).encode()
    for n in (1, 2):
        s3.put_object(
            Bucket="team-logs",
            Key=f"AWSLogs/1/BedrockModelInvocationLogs/{n}.json.gz",
            Body=gzip.compress(body),
        )
    s3.put_object(Bucket="team-logs", Key="AWSLogs/1/other.txt", Body=b"not a log")
    event = {
        "runName": "run-1",
        "baseModelId": NOVA_LITE.model_id,
        "customizationType": "DISTILLATION",
        "trainer": "bedrock",
        "teacherModelId": TEACHER,
        "invocationLogsConfig": config(),
    }
    result = run_validation(event, s3=s3, artifacts_bucket=ARTIFACTS)
    assert result["valid"] and result["summary"]["trainRecords"] == 120
    event["invocationLogsConfig"] = config({"equals": {"project": "web"}})
    with pytest.raises(DatasetValidationError) as err:
        run_validation(event, s3=s3, artifacts_bucket=ARTIFACTS)
    assert "s3://team-logs/AWSLogs/:0: TOO_FEW_RECORDS: 0 usable invocation logs" in str(err.value)
    assert BUCKET != "team-logs"


def test_cli_validates_a_folder_of_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "AWSLogs" / "2026" / "11"
    folder.mkdir(parents=True)
    gz(folder / "a.json.gz", [log(i) for i in range(60)])
    gz(folder / "b.json.gz", [log(i) for i in range(60, 100)] + [log(0, project="web")])
    base = ["validate-data", str(tmp_path), "--invocation-logs"]
    base += ["--base-model", NOVA_LITE.model_id, "--teacher-model", TEACHER]
    assert main(base) == 0
    assert "101 records (101 valid)" in capsys.readouterr().out
    web = ["--request-metadata-filters", '{"equals": {"project": "web"}}']
    assert main([*base, *web]) == 1
    assert "TOO_FEW_RECORDS: 1 usable invocation logs" in capsys.readouterr().out
    both = ["--request-metadata-filters", '{"equals": {"a": "1"}, "notEquals": {"b": "2"}}']
    assert main([*base, *both]) == 2
    assert "give exactly one of equals, notEquals, andAll, orAll" in capsys.readouterr().err
    assert main([*base[:1], str(tmp_path / "none"), *base[2:]]) == 2
