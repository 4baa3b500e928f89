"""What the trigger API returns, as the client hands it to callers: runs, pages and typed errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bedrock_pipeline.contract import TERMINAL_STATUSES, ErrorCode, RunStatus


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Run:
    """One run as the API reports it; list items carry no ``current_step`` or ``outputs``."""

    run_name: str
    status: str
    execution_arn: str | None = None
    current_step: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    outputs: Any = None
    error: str | None = None
    cause: str | None = None
    # Of a succeeded run: SUCCEEDED, or NOT_PROMOTED (the evaluation gate kept the model back,
    # ``reason`` says why).
    outcome: str | None = None
    reason: str | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Run:
        return cls(
            run_name=str(body["runName"]),
            status=str(body["status"]),
            execution_arn=body.get("executionArn"),
            current_step=body.get("currentStep"),
            started_at=_timestamp(body.get("startedAt")),
            stopped_at=_timestamp(body.get("stoppedAt")),
            outputs=body.get("outputs"),
            error=body.get("error"),
            cause=body.get("cause"),
            outcome=body.get("outcome"),
            reason=body.get("reason"),
        )

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    @property
    def promoted(self) -> bool:
        """Succeeded, and no evaluation gate kept the model back."""
        return self.succeeded and self.outcome != "NOT_PROMOTED"

    def elapsed_s(self, now: datetime | None = None) -> float | None:
        if self.started_at is None:
            return None
        end = self.stopped_at or now or datetime.now(UTC)
        return max(0.0, (end - self.started_at).total_seconds())


@dataclass(frozen=True)
class StartResult:
    run: Run
    created: bool  # False: the same document was already started under this name (idempotent)


@dataclass(frozen=True)
class RunPage:
    runs: tuple[Run, ...]
    next_token: str | None


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path into the run document, e.g. "container.instanceCount"
    message: str


@dataclass
class ApiError(Exception):
    """An error answer of the API (or no answer at all: ``status`` 0)."""

    status: int
    code: str
    message: str
    fields: tuple[FieldError, ...] = field(default=())
    request_id: str | None = None

    def __str__(self) -> str:
        head = f"HTTP {self.status} {self.code}: {self.message}" if self.status else self.message
        lines = [head, *(f"  {f.field}: {f.message}" for f in self.fields)]
        if self.request_id:
            lines.append(f"  (request id {self.request_id})")
        return "\n".join(lines)


class BadRequestError(ApiError):
    """400: the request or run document is invalid; ``fields`` names each bad field."""


class AccessDeniedError(ApiError):
    """401/403: bad signature, no API key, or the resource policy refused the caller."""


class RunNotFoundError(ApiError):
    """404: no run with this name (or no such route)."""


class ConflictError(ApiError):
    """409: the name belongs to a different run document, or the run cannot be stopped."""


class ThrottledError(ApiError):
    """429 after every retry: the stage throttle or the daily quota."""


class ServerError(ApiError):
    """5xx after every retry."""


class TransportError(ApiError):
    """No HTTP answer after every retry: connection refused, DNS, timeout."""


class WaitTimeoutError(TimeoutError):
    def __init__(self, run: Run, timeout_s: float) -> None:
        super().__init__(f"run {run.run_name!r} still {run.status} after {timeout_s:g} s")
        self.run = run


_ERROR_TYPES: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AccessDeniedError,
    403: AccessDeniedError,
    404: RunNotFoundError,
    409: ConflictError,
    429: ThrottledError,
}


def error_from_response(status: int, body: Any, request_id: str | None) -> ApiError:
    """The typed error for an error answer; tolerates bodies that are not the API's JSON."""
    body = body if isinstance(body, Mapping) else {}
    default_code = ErrorCode.INTERNAL if status >= 500 else "HTTP_ERROR"
    code = str(body.get("error") or default_code)
    message = str(body.get("message") or body.get("Message") or f"HTTP {status}")
    fields = tuple(
        FieldError(str(item.get("field", "")), str(item.get("message", "")))
        for item in body.get("fields") or ()
        if isinstance(item, Mapping)
    )
    kind = _ERROR_TYPES.get(status, ServerError if status >= 500 else ApiError)
    return kind(status, code, message, fields, request_id)
