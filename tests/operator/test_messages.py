"""One line that says what to do, for each environment problem an AWS call can hit."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.stub import Stubber

from bedrock_pipeline.aws.errors import environment_problem
from bedrock_pipeline.client.commands import validate_data
from bedrock_pipeline.client.progress import ReadProgress
from tests.operator.support import SAMPLE


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "HeadObject")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("AccessDenied", "access denied"),
        ("403", "access denied"),
        ("NoSuchBucket", "no such bucket"),
        ("404", "no such object"),
        ("ExpiredToken", "expired"),
        ("InvalidAccessKeyId", "access key id is not valid"),
    ],
)
def test_client_errors_say_what_to_do(code: str, words: str) -> None:
    message = environment_problem(_client_error(code))
    assert message is not None and words in message


def test_other_errors_are_not_environment_problems() -> None:
    assert environment_problem(_client_error("InternalError")) is None
    assert environment_problem(ValueError("x")) is None
    assert "aws configure" in (environment_problem(NoCredentialsError()) or "")


@pytest.mark.parametrize("code", ["AccessDenied", "403", "404", "ExpiredToken"])
def test_validate_data_s3_access_problem_is_exit_2_without_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    s3 = boto3.client("s3", region_name="us-west-2")
    stubber = Stubber(s3)
    stubber.add_client_error("head_object", service_error_code=code, http_status_code=403)
    report = tmp_path / "report.json"
    args = argparse.Namespace(
        train="s3://data/train.jsonl", base_model="container/llama3", validation=None,
        customization_type="FINE_TUNING", trainer=None, teacher_model=None, hyperparameters=None,
        instance_type="ml.g5.2xlarge", instance_count=1, output="table", output_alias=None,
        report_file=report, max_examples=5, profile=None, invocation_logs=False,
        request_metadata_filters=None,
    )  # fmt: skip
    with stubber:
        assert validate_data.run(args, s3=s3) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bedrock-pipeline validate-data: error: s3://data/train.jsonl: ")
    assert "\n" not in err and not report.exists()


def test_progress_line_has_records_rate_and_eta() -> None:
    stream = io.StringIO()
    progress = ReadProgress(stream, {str(SAMPLE / "train.jsonl"): 10_000_000})
    progress(str(SAMPLE / "train.jsonl"), 4096, 1_000_000)
    progress.close()
    text = stream.getvalue()
    assert "4,096 records" in text and "MB/s" in text and "ETA" in text
    assert text.endswith("\r\x1b[K")  # the line is cleared before the report prints
