"""Retry AWS calls that can throttle: exponential backoff with full jitter.

Only errors that a later attempt can cure are retried (throttling, quota, transient service
faults). Validation and access errors fail fast: retrying them wastes the run's time and hides
the message the user needs.

A client whose calls go through :func:`call_with_retry` is built with :func:`single_attempt`, so
that each of our attempts is exactly one HTTP request: with botocore's own retries left on, every
attempt would be up to three requests and throttling would be retried twice over.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

T = TypeVar("T")

# What botocore's standard retry mode retries (botocore.retries.standard: throttling codes,
# transient codes, status codes), so that leaving retries to call_with_retry loses none of them,
# plus the Bedrock/SageMaker errors that a later attempt cures.
RETRYABLE_CODES: frozenset[str] = frozenset(
    {
        # throttling
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "EC2ThrottledException",
        # transient
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        # Bedrock: a quota that frees up, a model still loading
        "ServiceQuotaExceededException",
        "ModelNotReadyException",
    }
)
# 429 and 5xx without a known code (S3's HeadObject has no body to carry one).
RETRYABLE_STATUS: frozenset[int] = frozenset({429, 500, 502, 503, 504})


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def is_retryable(exc: BaseException) -> bool:
    # ConnectionError: connect failures and timeouts; HTTPClientError: read timeouts and
    # connections closed mid-response.
    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if not isinstance(exc, ClientError):
        return False
    if error_code(exc) in RETRYABLE_CODES:
        return True
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in RETRYABLE_STATUS


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 20.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        return rng() * min(self.cap_s, self.base_s * (2**attempt))


DEFAULT_BACKOFF = Backoff()

# botocore's own default timeouts, in seconds (botocore.config.Config).
BOTOCORE_TIMEOUT_S = 60.0


def single_attempt(
    *, connect_timeout: float = BOTOCORE_TIMEOUT_S, read_timeout: float = BOTOCORE_TIMEOUT_S
) -> Config:
    """botocore settings for a client whose calls go through :func:`call_with_retry`.

    ``total_max_attempts: 1`` makes botocore send each call exactly once and hand every error to
    us. (Its ``max_attempts`` counts *retries*: ``max_attempts: 1`` would be two requests per
    call.) ``mode`` is pinned to ``standard``: ``adaptive``, which ``AWS_RETRY_MODE`` or a
    profile could select, would put botocore's client-side rate limiter in front of our backoff.
    An explicit ``total_max_attempts`` also wins over ``AWS_MAX_ATTEMPTS``. Timeouts in seconds.
    Source: botocore.config.Config and https://docs.aws.amazon.com/boto3/latest/guide/retries.html
    """
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def call_with_retry(
    fn: Callable[..., T],
    /,
    *args: object,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: object,
) -> T:
    """Call ``fn(*args, **kwargs)``, retrying retryable AWS errors; re-raise the last one."""
    for attempt in range(backoff.attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_retryable(exc) or attempt == backoff.attempts - 1:
                raise
            sleep(backoff.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
