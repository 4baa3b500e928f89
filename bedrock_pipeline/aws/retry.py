"""Retry AWS calls that can throttle: exponential backoff with full jitter.

Only errors that a later attempt can cure are retried (throttling, quota, transient service
faults). Validation and access errors fail fast: retrying them wastes the run's time and hides
the message the user needs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

T = TypeVar("T")

RETRYABLE_CODES: frozenset[str] = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceQuotaExceededException",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "ModelNotReadyException",
        "SlowDown",
    }
)


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | ReadTimeoutError):
        return True
    code = error_code(exc)
    return code is not None and code in RETRYABLE_CODES


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 20.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        return rng() * min(self.cap_s, self.base_s * (2**attempt))


DEFAULT_BACKOFF = Backoff()


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
