"""The one way handlers create boto3 clients, with the botocore settings each call path needs.

Where ``bedrock_pipeline.aws.retry.call_with_retry`` owns the backoff (job driver, notify step,
the API's Step Functions client, the evaluation's Bedrock Runtime client), botocore is held to
``retries={"max_attempts": 1}``. botocore counts ``max_attempts`` as retries
(``total_max_attempts`` = max_attempts + 1), so each call makes at most two attempts before our
own backoff takes over. Clients for plain S3 reads and writes keep botocore's defaults (``None``).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# bedrock_pipeline.aws.retry owns backoff (job driver, notify step); 10 s to connect, 30 s to read.
OWN_RETRIES = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30
)
# The trigger API: lambdas.api.runs.RETRY_BACKOFF retries, and timeouts (3 s, 10 s) that fit
# API Gateway's 29 s integration timeout.
API_GATEWAY_BUDGET = Config(
    retries={"mode": "standard", "max_attempts": 1}, connect_timeout=3, read_timeout=10
)


def model_runtime(timeout_s: float) -> Config:
    """Bedrock Runtime for the evaluation: the evaluation's own retry owns backoff; a read
    timeout of ``timeout_s`` seconds per model answer."""
    return Config(read_timeout=timeout_s, connect_timeout=10, retries={"max_attempts": 1})


def client(service: str, config: Config | None = None) -> Any:
    """A boto3 client for ``service`` (``None``: botocore's defaults, retries included)."""
    if config is None:
        return boto3.client(service)
    return boto3.client(service, config=config)
