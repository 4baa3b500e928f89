"""Errors the workflow branches on. Step Functions names a Lambda error by the exception's class
name, so these names are part of the state machine's contract (Retry / Catch / the run's
``error``); the message is the ``cause`` users read."""

from __future__ import annotations

from botocore.exceptions import ClientError

from bedrock_pipeline.aws.retry import error_code, is_retryable


class WorkflowError(Exception):
    """Base class: a run cannot go on; ``str(exc)`` says why and what to change."""


class JobFailed(WorkflowError):
    """The service reports the job Failed; the message carries its failureMessage."""


class JobStopped(WorkflowError):
    """The job was stopped outside the workflow (console, CLI)."""


class JobTimedOut(WorkflowError):
    """The job ran past the stage's ``poll.timeout_s``; the clean-up stops it."""


class JobRequestRejected(WorkflowError):
    """The service refused the request for a reason a retry cannot cure (validation, access)."""


class AwsThrottled(WorkflowError):
    """Still throttled after the Lambda's own retries: the state machine retries it later."""


class ImportNotReady(WorkflowError):
    """The weights do not meet Custom Model Import's requirements (no import job started)."""


def translate(exc: ClientError, what: str) -> WorkflowError:
    """A service error after ``call_with_retry`` gave up, as the error the workflow handles."""
    code = error_code(exc) or "Unknown"
    message = exc.response.get("Error", {}).get("Message", str(exc))
    if is_retryable(exc):
        return AwsThrottled(f"{what}: {code}: {message}")
    return JobRequestRejected(f"{what}: {code}: {message}")
