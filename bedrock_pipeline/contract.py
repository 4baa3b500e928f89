"""The trigger API's contract, shared by the Lambda, the construct and the client.

One place for the facts both sides must agree on: routes, error codes, run statuses, the names
of the stack outputs the client reads and the environment variables it honours.
"""

from __future__ import annotations

from enum import StrEnum

# Stage name of the deployed API: URLs are https://<id>.execute-api.<region>.amazonaws.com/v1/...
STAGE_NAME = "v1"

# CloudFormation output keys of the workflow stack (logical ids are overridden to these).
OUTPUT_API_URL = "TriggerApiUrl"
OUTPUT_API_KEY_ID = "TriggerApiKeyId"

# Environment variables of the client and the CLI.
ENV_API_URL = "BEDROCK_PIPELINE_API_URL"
ENV_API_KEY = "BEDROCK_PIPELINE_API_KEY"
ENV_STAGE = "BEDROCK_PIPELINE_STAGE"

# The workflow stack's name for a stage (stacks/pipeline_app.py builds it the same way).
WORKFLOW_STACK_NAME = "bcp-{stage}-workflow"

# Header that carries the usage plan's API key (the quota is counted per key).
API_KEY_HEADER = "x-api-key"

LIST_DEFAULT_LIMIT = 20
LIST_MAX_LIMIT = 100  # per page; ListExecutions itself allows 1000 (maxResults), kept small


class Route(StrEnum):
    """API Gateway resource paths (the ``resource`` field of a proxy event)."""

    RUNS = "/runs"
    RUN = "/runs/{runName}"
    STOP = "/runs/{runName}/stop"


class RunStatus(StrEnum):
    """Step Functions execution statuses, as the API reports them."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    PENDING_REDRIVE = "PENDING_REDRIVE"


TERMINAL_STATUSES: frozenset[str] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABORTED}
)


class ErrorCode(StrEnum):
    """``error`` field of every error body, the Lambda's and the gateway's alike."""

    INVALID_JSON = "INVALID_JSON"  # 400: body is not a JSON object
    VALIDATION_FAILED = "VALIDATION_FAILED"  # 400: the run document; ``fields`` names each
    INVALID_PARAMETER = "INVALID_PARAMETER"  # 400: a query or path parameter
    ACCESS_DENIED = "ACCESS_DENIED"  # 403: signature, resource policy or API key
    RUN_NOT_FOUND = "RUN_NOT_FOUND"  # 404
    NOT_FOUND = "NOT_FOUND"  # 404: no such route
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"  # 405
    RUN_CONFLICT = "RUN_CONFLICT"  # 409: the name is taken by a different run document
    RUN_NOT_RUNNING = "RUN_NOT_RUNNING"  # 409: stop of a run that already ended otherwise
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  # 413
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # 415
    THROTTLED = "THROTTLED"  # 429: stage throttle, usage-plan quota, or Step Functions
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"  # 429: the usage plan's daily quota
    INTERNAL = "INTERNAL"  # 500
    UNAVAILABLE = "UNAVAILABLE"  # 502/503/504 from the gateway or integration
