"""`bedrock-pipeline validate-data`: exit codes 0/1/2, text and JSON output, local and s3://."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from bedrock_pipeline.client.cli import main

DATA = Path(__file__).parent / "data"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
VALID = str(DATA / "valid" / "haiku_messages.jsonl")
BAD = str(DATA / "defects" / "haiku_duplicate.jsonl")


def test_valid_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-data", VALID, "--base-model", HAIKU]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("VALID") and "41 records (41 valid)" in out
    assert "recommended batch size: 4-16" in out and "NO_VALIDATION_DATA" in out  # warnings shown


def test_invalid_file_exits_1_with_error_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-data", BAD, "--base-model", HAIKU]) == 1
    out = capsys.readouterr().out
    assert f"{BAD}:19: DUPLICATE_RECORD: same record as line 4" in out
    assert "errors: 1 (DUPLICATE_RECORD 1)" in out and out.rstrip().endswith("INVALID")


def test_json_output_is_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["validate-data", VALID, "--base-model", HAIKU, "--format", "json"]
    assert main([*args, "--hyperparameters", '{"epochCount": 4, "batchSize": "8"}']) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] and report["hyperParameters"]["epochCount"] == "4"
    assert report["files"][0]["estimatedTokens"]["max"] > 0


def test_bad_hyperparameters_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "validate-data",
                VALID,
                "--base-model",
                HAIKU,
                "--hyperparameters",
                '{"epochCount": 0}',
            ]
        )
        == 1
    )
    assert "HYPERPARAMETER_RANGE: epochCount=0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-model", "gpt-4"], "unknown base model 'gpt-4'; allowed: "),
        (
            ["--base-model", HAIKU, "--hyperparameters", "{epochCount: 2}"],
            "--hyperparameters is not JSON",
        ),
        (["--base-model", HAIKU, "--hyperparameters", "[1]"], "must be a JSON object"),
        (["--base-model", HAIKU, "--validation", "missing.jsonl"], "no such file: missing.jsonl"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate-data", VALID, *args]) == 2
    assert message in capsys.readouterr().err


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate-data", VALID])  # --base-model is required
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["validate-data", VALID, "--base-model", HAIKU, "--customization-type", "RLHF"])
    assert exit_info.value.code == 2


def test_s3_uris(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="train.jsonl", Body=Path(VALID).read_bytes())
        s3.put_object(
            Bucket="data", Key="val.jsonl", Body=Path(VALID).read_bytes().splitlines()[0] + b"\n"
        )
        code = main(
            [
                "validate-data",
                "s3://data/train.jsonl",
                "--validation",
                "s3://data/val.jsonl",
                "--base-model",
                HAIKU,
            ]
        )
    out = capsys.readouterr().out
    assert code == 1
    assert "s3://data/val.jsonl:1: TRAIN_VALIDATION_OVERLAP: same record as training line 1" in out


def test_images_named_by_an_s3_dataset_are_looked_up(capsys: pytest.CaptureFixture[str]) -> None:
    def record(key: str) -> bytes:
        image = {"format": "png", "source": {"s3Location": {"uri": f"s3://data/{key}"}}}
        user = {"role": "user", "content": [{"image": image}, {"text": f"What is {key}?"}]}
        answer = {"role": "assistant", "content": [{"text": "A shape."}]}
        line = {"schemaVersion": "bedrock-conversation-2024", "messages": [user, answer]}
        return json.dumps(line).encode() + b"\n"

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="img/a.png", Body=b"\x89PNG\r\n\x1a\n")
        body = record("img/a.png") + record("img/missing.png")
        s3.put_object(Bucket="data", Key="train.jsonl", Body=body)
        code = main(
            ["validate-data", "s3://data/train.jsonl", "--base-model", "container/llama3-vision"]
        )
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "s3://data/train.jsonl:2: IMAGE_NOT_FOUND: messages[0].content[0].image: image s3://data/img/missing.png"
        in out
    )
    assert "img/a.png" not in out
