"""The one way handlers create boto3 clients, with the botocore settings each call path needs.

Every call of the job driver, the notify step, the API's Step Functions client, the evaluation
(Bedrock Runtime and S3) and the validate step (S3) goes through
``bedrock_pipeline.aws.retry.call_with_retry``, which owns the backoff. Their clients are built
with ``single_attempt``: botocore sends each request once (``total_max_attempts`` 1, standard
mode), so one of our attempts is one HTTP request and throttling is retried in one place only.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from bedrock_pipeline.aws.retry import single_attempt

# Job driver and notify step (DEFAULT_BACKOFF: 6 attempts): 10 s to connect, 30 s to read.
OWN_RETRIES = single_attempt(connect_timeout=10, read_timeout=30)
# The trigger API: lambdas.api.runs.RETRY_BACKOFF retries, and timeouts (3 s, 10 s) that fit
# API Gateway's 29 s integration timeout.
API_GATEWAY_BUDGET = single_attempt(connect_timeout=3, read_timeout=10)
# S3 reads and writes of the validate and evaluate steps: botocore's default timeouts (60 s);
# a read that drops mid-object is resumed by bedrock_pipeline.aws.s3, not retried from byte 0.
S3_OWN_RETRIES = single_attempt()


def model_runtime(timeout_s: float) -> Config:
    """Bedrock Runtime for the evaluation: the evaluation's own retry owns backoff; a read
    timeout of ``timeout_s`` seconds per model answer."""
    return single_attempt(connect_timeout=10, read_timeout=timeout_s)


def client(service: str, config: Config | None = None) -> Any:
    """A boto3 client for ``service`` (``None``: botocore's defaults, retries included)."""
    if config is None:
        return boto3.client(service)
    return boto3.client(service, config=config)
