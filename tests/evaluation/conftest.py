"""Fixtures for the evaluation step: moto S3 with a small test set, a scriptable runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.evaluation import (
    BUCKET,
    DATA,
    TEST_RECORDS,
    jsonl,
)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=DATA)
        client.put_object(Bucket=DATA, Key="test.jsonl", Body=jsonl(TEST_RECORDS))
        yield client
