"""Where the evaluation keeps its files in S3, and reading/writing them.

Layout under the artifacts bucket (one folder per model, one file per batch, so that a batch
retried by Step Functions rewrites only its own file):

    runs/<run>/evaluation/plan.json
    runs/<run>/evaluation/<model>/batch-<k>.jsonl     one result per line, sorted by index
    runs/<run>/evaluation/report.json | report.md | report.png
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from bedrock_pipeline.aws.retry import call_with_retry, error_code
from bedrock_pipeline.aws.s3 import list_keys
from bedrock_pipeline.evalset import EvalRecord, iter_eval_records, load_eval_records
from bedrock_pipeline.formats import FormatError, iter_jsonl
from bedrock_pipeline.sources import parse_s3_uri


def evaluation_prefix(run_id: str) -> str:
    return f"runs/{run_id}/evaluation/"


def model_prefix(run_id: str, model: str) -> str:
    return f"{evaluation_prefix(run_id)}{model}/"


def batch_key(run_id: str, model: str, batch: int) -> str:
    return f"{model_prefix(run_id, model)}batch-{batch}.jsonl"


def get_bytes(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when it does not exist."""
    try:
        response = call_with_retry(s3.get_object, Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    body: bytes = response["Body"].read()
    return body


def put_bytes(s3: Any, bucket: str, key: str, data: bytes, content_type: str) -> None:
    call_with_retry(s3.put_object, Bucket=bucket, Key=key, Body=data, ContentType=content_type)


def read_results(s3: Any, bucket: str, key: str) -> dict[int, dict[str, Any]]:
    """Results already written for a batch, by record index (empty when none yet)."""
    data = get_bytes(s3, bucket, key)
    if data is None:
        return {}
    results = {}
    for _, row in iter_jsonl(io.BytesIO(data), f"s3://{bucket}/{key}"):
        results[int(row["index"])] = row
    return results


def write_results(s3: Any, bucket: str, key: str, results: Mapping[int, Mapping[str, Any]]) -> None:
    lines = (json.dumps(results[i], ensure_ascii=False) + "\n" for i in sorted(results))
    put_bytes(s3, bucket, key, "".join(lines).encode("utf-8"), "application/x-ndjson")


def read_model_results(s3: Any, bucket: str, run_id: str, model: str) -> dict[int, dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {}
    for key in list_keys(s3, bucket, model_prefix(run_id, model)):
        if key.rsplit("/", 1)[-1].startswith("batch-") and key.endswith(".jsonl"):
            results.update(read_results(s3, bucket, key))
    return results


def load_test_set(s3: Any, uri: str) -> list[EvalRecord]:
    bucket, key = parse_s3_uri(uri)
    data = get_bytes(s3, bucket, key)
    if data is None:
        raise FormatError(uri, 0, "NOT_FOUND", "", "the test set does not exist")
    return load_eval_records(io.BytesIO(data), uri)


class _Lines:
    """Line iteration over a streaming body, so a large training set is not read whole."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body.iter_lines(keepends=True))


def load_shots(s3: Any, uri: str, count: int) -> list[EvalRecord]:
    """The first ``count`` records of ``uri`` (typically the training set) as few-shot examples."""
    if count == 0:
        return []
    bucket, key = parse_s3_uri(uri)
    response = call_with_retry(s3.get_object, Bucket=bucket, Key=key)
    body = response["Body"]
    try:
        shots = list(iter_eval_records(_Lines(body), uri, limit=count))  # type: ignore[arg-type]
    finally:
        body.close()
    if len(shots) < count:
        raise FormatError(uri, len(shots), "TOO_FEW_SHOTS", "", f"needs {count} records")
    return shots
