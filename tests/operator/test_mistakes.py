"""A new user's mistakes, through the real console script: each gets one clear line (or every
problem at once), the documented exit code, and nothing is written or started."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bedrock_pipeline.registry import MODELS
from tests.operator.support import EXAMPLES, ROOT, SAMPLE, one_error_line, run

NO_CREDENTIALS = "no AWS credentials found"


def _jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _messages(i: int) -> dict[str, object]:
    return {
        "messages": [
            {"role": "user", "content": f"What is {i} plus {i}?"},
            {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
        ]
    }


def test_version_and_help_keep_model_ids_whole() -> None:
    version = run("--version")
    assert version.code == 0 and re.fullmatch(r"bedrock-pipeline \S+\n", version.out)
    help_text = run("validate-data", "--help").out
    for model_id in MODELS:  # argparse's default wraps at hyphens: "amazon.titan-" / "text-..."
        assert model_id in help_text


def test_s3_without_credentials_is_one_line_exit_2_and_no_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = run(
        "validate-data", "s3://my-datasets/train.jsonl", "--base-model", "container/llama3",
        "--report-file", str(report),
    )  # fmt: skip
    assert result.code == 2
    line = one_error_line(result, "validate-data")
    assert "s3://my-datasets/train.jsonl" in line and NO_CREDENTIALS in line
    assert result.out == "" and not report.exists() and list(tmp_path.iterdir()) == []


def test_check_import_s3_without_credentials(tmp_path: Path) -> None:
    result = run("check-import", "s3://my-models/export/", cwd=tmp_path)
    assert result.code == 2 and NO_CREDENTIALS in one_error_line(result, "check-import")
    assert list(tmp_path.iterdir()) == []


def test_batch_size_that_cannot_split_over_the_gpus_is_invalid() -> None:
    hyperparameters = json.dumps({"batchSize": 6, "microBatchSize": 4})
    args = ("validate-data", str(SAMPLE / "train.jsonl"), "--base-model", "container/llama3",
            "--validation", str(SAMPLE / "validation.jsonl"),
            "--hyperparameters", hyperparameters)  # fmt: skip
    one_gpu = run(*args)
    assert one_gpu.code == 1 and "BATCH_LAYOUT" in one_gpu.out
    assert "microBatchSize (4) x GPUs (1) = 4" in one_gpu.out
    four_gpus = run(*args, "--instance-type", "ml.g5.12xlarge")
    assert "x GPUs (4) = 16" in four_gpus.out
    fits = run(*args[:-1], json.dumps({"batchSize": 16, "microBatchSize": 4}),
               "--instance-type", "ml.g5.12xlarge")  # fmt: skip
    assert fits.code == 0, fits.out


def test_distillation_without_teacher_is_invalid() -> None:
    result = run(
        "validate-data", str(SAMPLE / "train.jsonl"), "--base-model",
        "meta.llama3-2-1b-instruct-v1:0:128k", "--customization-type", "DISTILLATION",
    )  # fmt: skip
    assert result.code == 1
    assert "MISSING_TEACHER" in result.out and "meta.llama3-1-405b-instruct-v1:0" in result.out


def test_report_names_the_files_actual_format() -> None:
    result = run(
        "validate-data", str(SAMPLE / "train.jsonl"), "--base-model",
        "meta.llama3-1-8b-instruct-v1:0:128k", "--output", "json",
    )  # fmt: skip
    assert result.code == 1
    train = json.loads(result.out)["files"][0]
    assert train["format"] == "messages" and train["expectedFormat"] == "prompt-completion"


def test_check_run_names_every_problem_at_once_and_starts_nothing(tmp_path: Path) -> None:
    document: dict[str, object] = {
        "runName": "support-bot-v3",
        "baseModelId": "meta.llama3-1-8b-instruct-v1:0:128kk",
        "trainingDataUri": "s3://my-datasets/train.jsonl",
        "hyperParamters": {"epochCount": 3},
        "customizationType": "DISTILLATION",
    }
    path = _jsonl(tmp_path / "run.json", [document])
    result = run("check-run", str(path), "--stage", "dev", "--output", "json", cwd=ROOT)
    assert result.code == 1 and result.err == ""
    problems = {p["field"]: p["message"] for p in json.loads(result.out)["problems"]}
    assert "did you mean 'hyperParameters'" in problems["hyperParamters"]
    assert "did you mean 'meta.llama3-1-8b-instruct-v1:0:128k'" in problems["baseModelId"]
    assert "required when customizationType=DISTILLATION" in problems["teacherModelId"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_check_run_model_outside_the_stage_region() -> None:
    document = json.dumps({"runName": "nova-1", "baseModelId": "amazon.nova-micro-v1:0:128k",
                           "trainingDataUri": "s3://my-datasets/train.jsonl"})  # fmt: skip
    result = run("check-run", "-", "--stage", "dev", stdin=document)
    assert result.code == 1
    assert "runs only in us-east-1; stage 'dev' is in us-west-2" in result.out


def test_check_run_container_cost_and_batch_layout() -> None:
    document = json.loads((EXAMPLES / "run-llama-container.json").read_text())
    document["container"]["hyperParameters"]["batchSize"] = 6
    result = run("check-run", "-", "--output", "json", stdin=json.dumps(document))
    assert result.code == 1
    check = json.loads(result.out)
    assert check["problems"][0]["field"] == "container.hyperParameters.batchSize"
    assert check["estimate"]["instanceHoursAtMost"] == 4.0 and check["estimate"]["gpus"] == 4


def test_check_run_container_evaluation_without_a_bedrock_base_model() -> None:
    document = json.loads((EXAMPLES / "run-llama-container.json").read_text())
    document["evaluation"] = {"testDataUri": "s3://my-datasets/support/test.jsonl"}
    result = run("check-run", "-", "--stage", "dev", stdin=json.dumps(document))
    assert result.code == 1 and result.err == ""
    assert "evaluation.baseModelId" in result.out
    flat = " ".join(result.out.split())  # the table wraps long messages
    assert "required when trainer=container" in flat
    assert "not a Bedrock model" in flat and "the weights started from" in flat
    document["evaluation"]["baseModelId"] = "us.meta.llama3-2-1b-instruct-v1:0"
    fixed = run("check-run", "-", "--stage", "dev", "--output", "json", stdin=json.dumps(document))
    assert fixed.code == 0, fixed.out
    assert json.loads(fixed.out)["problems"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check-run", "missing.json"), "no such file: missing.json"),
        (("check-run", str(EXAMPLES / "run-llama-bedrock.json"), "--stage", "prdo"),
         "no such stage 'prdo' (did you mean 'prod'?)"),
        (("validate-data", "x.jsonl", "--base-model", "container/llama"),
         "did you mean 'container/llama3'?"),
    ],
)  # fmt: skip
def test_usage_mistakes_are_one_line_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.code == 2 and message in one_error_line(result, args[0])


def test_start_without_api_url_says_what_to_do_and_starts_nothing() -> None:
    result = run("start", str(EXAMPLES / "run-llama-bedrock.json"))
    assert result.code == 2
    line = one_error_line(result, "start")
    assert "no API URL" in line and "--api-url" in line


def test_score_into_a_file_is_no_raw_errno(tmp_path: Path) -> None:
    (tmp_path / "report").write_text("not a folder")
    test = _jsonl(tmp_path / "test.jsonl", [_messages(1)])
    pred = _jsonl(tmp_path / "p.jsonl", [{"output": "2"}])
    result = run("score", "--test", str(test), "--predictions", f"base={pred}",
                 "--predictions", f"custom={pred}", "--out", str(tmp_path / "report"))  # fmt: skip
    assert result.code == 2
    line = one_error_line(result, "score")
    assert "Errno" not in line and "exists and is not a directory" in line
    assert (tmp_path / "report").read_text() == "not a folder"


@pytest.mark.parametrize("command", ["validate-data", "check-import", "check-run", "score"])
def test_every_command_takes_output_json_and_table(command: str) -> None:
    help_text = run(command, "--help").out
    assert "--output {json,table}" in help_text


def test_piped_validation_prints_no_progress() -> None:
    result = run("validate-data", str(SAMPLE / "train.jsonl"), "--base-model", "container/llama3",
                 "--validation", str(SAMPLE / "validation.jsonl"))  # fmt: skip
    assert result.code == 0 and result.err == ""
