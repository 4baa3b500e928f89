"""The one way handlers create boto3 clients, with the botocore settings each call path needs.

Where ``bedrock_pipeline.aws.retry.call_with_retry`` owns the backoff, botocore must not retry
as well (its attempts would multiply ours): ``OWN_RETRIES`` and the other one-attempt configs
below. Clients for plain S3 reads and writes keep botocore's own retries (``None``).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# One attempt per call; bedrock_pipeline.aws.retry owns backoff (job driver, notify step).
OWN_RETRIES = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30
)
# The trigger API: one attempt (lambdas.api.runs.RETRY_BACKOFF retries), and timeouts that fit
# API Gateway's 29 s integration timeout.
API_GATEWAY_BUDGET = Config(
    retries={"mode": "standard", "max_attempts": 1}, connect_timeout=3, read_timeout=10
)


def model_runtime(timeout_s: float) -> Config:
    """Bedrock Runtime for the evaluation: one attempt per record (the evaluation's own retry
    owns backoff) and a read timeout of ``timeout_s`` seconds per model answer."""
    return Config(read_timeout=timeout_s, connect_timeout=10, retries={"max_attempts": 1})


def client(service: str, config: Config | None = None) -> Any:
    """A boto3 client for ``service`` (``None``: botocore's defaults, retries included)."""
    if config is None:
        return boto3.client(service)
    return boto3.client(service, config=config)
