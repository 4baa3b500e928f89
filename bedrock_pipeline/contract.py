"""The pipeline's contract: the facts the CDK code, the handlers and the client must agree on.

One place for the trigger API (routes, error codes, run statuses, the stack outputs the client
reads and the environment variables it honours), the functions (service names and environment
variables, written by ``stacks/`` and parsed by each handler's environment model) and the state
machine (the actions it asks the functions for and the JSON paths where it keeps their results;
the run state itself is typed in ``bedrock_pipeline.run_state``).
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


# --- Functions --------------------------------------------------------------------------------

# CloudWatch namespace of every function's metrics (POWERTOOLS_METRICS_NAMESPACE).
METRICS_NAMESPACE = "BedrockCustomizationPipeline"


class Service(StrEnum):
    """Each function's service name (POWERTOOLS_SERVICE_NAME): logs, traces and metrics."""

    API = "trigger-api"
    JOBS = "jobs"
    VALIDATE = "validate"
    EVALUATE = "evaluate"
    NOTIFY = "notify"


class ApiEnv(StrEnum):
    """Environment of the trigger API function (``lambdas.api``)."""

    STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
    ALLOWED_BASE_MODELS = "ALLOWED_BASE_MODELS"  # comma-separated; empty: any


class JobsEnv(StrEnum):
    """Environment of the job driver (``lambdas.jobs``)."""

    STAGE_PREFIX = "STAGE_PREFIX"
    BEDROCK_CUSTOMIZATION_ROLE_ARN = "BEDROCK_CUSTOMIZATION_ROLE_ARN"
    BEDROCK_IMPORT_ROLE_ARN = "BEDROCK_IMPORT_ROLE_ARN"
    SAGEMAKER_ROLE_ARN = "SAGEMAKER_ROLE_ARN"
    SUBNET_IDS = "SUBNET_IDS"  # comma-separated
    SECURITY_GROUP_IDS = "SECURITY_GROUP_IDS"  # comma-separated
    MODEL_KEY_ARN = "MODEL_KEY_ARN"
    ARTIFACTS_BUCKET = "ARTIFACTS_BUCKET"
    TRAINING_IMAGE_URI = "TRAINING_IMAGE_URI"
    POLL_INITIAL_S = "POLL_INITIAL_S"
    POLL_MAX_S = "POLL_MAX_S"
    POLL_TIMEOUT_S = "POLL_TIMEOUT_S"
    POLL_GROWTH = "POLL_GROWTH"
    MIN_F1_GAIN = "MIN_F1_GAIN"
    DECISION_METRIC = "DECISION_METRIC"  # promotion.DecisionMetric
    ALLOWED_BASE_MODELS = "ALLOWED_BASE_MODELS"  # comma-separated; empty: any


class ValidateEnv(StrEnum):
    """Environment of the validate step (``lambdas.validate``)."""

    ARTIFACTS_BUCKET = "ARTIFACTS_BUCKET"
    ARTIFACTS_KMS_KEY_ID = "ARTIFACTS_KMS_KEY_ID"  # the reports' SSE-KMS key; empty: bucket's


class EvaluateEnv(StrEnum):
    """Environment of the evaluation step (``lambdas.evaluate``)."""

    ARTIFACTS_BUCKET = "ARTIFACTS_BUCKET"


class NotifyEnv(StrEnum):
    """Environment of the notify step (``lambdas.notify``)."""

    TOPIC_ARN = "TOPIC_ARN"
    EVENT_BUS_NAME = "EVENT_BUS_NAME"


# --- State machine ----------------------------------------------------------------------------


class JobsAction(StrEnum):
    """``action`` of the events the state machine sends the job driver."""

    PREPARE = "prepare"
    START = "start"
    POLL = "poll"
    RELEASE = "release"
    CLEANUP = "cleanup"


class EvaluateAction(StrEnum):
    """``action`` of the events the state machine sends the evaluation step."""

    PLAN = "plan"
    RUN_BATCH = "run_batch"
    REPORT = "report"


class Outcome(StrEnum):
    """``outcome`` of the event the state machine sends the notify step."""

    SUCCEEDED = "SUCCEEDED"
    NOT_PROMOTED = "NOT_PROMOTED"
    FAILED = "FAILED"


class StepError(StrEnum):
    """Errors the state machine names: Step Functions names a Lambda error by the exception's
    class name (``lambdas.jobs.errors``, ``lambdas.validate.logic``)."""

    AWS_THROTTLED = "AwsThrottled"  # retried later by the state machine
    DATASET_INVALID = "DatasetValidationError"  # the run's Fail state when validation fails


class JobKind(StrEnum):
    """The four long jobs; each has its record at ``StatePath.job(kind)``."""

    CUSTOMIZATION = "customization"
    TRAINING = "training"
    IMPORT = "import"
    THROUGHPUT = "throughput"


class StatePath:
    """Where the state machine reads and writes the run state (``run_state.RunState``)."""

    ROOT = "$"
    TRAINER = "$.run.trainer"
    FLAG_VALIDATE = "$.flags.validate"
    FLAG_THROUGHPUT = "$.flags.throughput"
    FLAG_EVALUATION = "$.flags.evaluation"
    FLAG_RELEASE_AFTER_EVALUATION = "$.flags.releaseAfterEvaluation"
    VALIDATE_REQUEST = "$.requests.validate"
    EVALUATION_REQUEST = "$.requests.evaluation"
    VALIDATION = "$.validation"
    VALIDATION_VALID = "$.validation.valid"
    MODEL = "$.model"
    PROVISIONED_MODEL_ARN = "$.jobs.throughput.outputs.provisionedModelArn"
    IMPORTED_MODEL_ARN = "$.jobs.import.outputs.modelArn"
    EVALUATION = "$.evaluation"
    EVALUATION_CONFIG = "$.evaluation.config"
    EVALUATION_PLAN = "$.evaluation.plan"
    EVALUATION_BATCHES = "$.evaluation.plan.batches"
    EVALUATION_REPORT = "$.evaluation.report"
    EVALUATION_DECISION = "$.evaluation.report.decision"
    RELEASE = "$.release"
    OUTCOME = "$.outcome"
    ERROR = "$.error"
    ERROR_NAME = "$.error.Error"
    ERROR_CAUSE = "$.error.Cause"
    CLEANUP = "$.cleanup"
    CLEANUP_ERROR = "$.cleanupError"
    NOTIFICATION = "$.notification"
    FAILURE_NAME = "$.notification.failure.error"  # the notify step's readable error
    FAILURE_CAUSE = "$.notification.failure.cause"
    NOTIFY_ERROR = "$.notifyError"

    # Inside the evaluation's Map: one item (its config and batch) and the batch's result.
    ITEM_CONFIG = "$.config"
    ITEM_BATCH = "$.batch"
    ITEM_RESULT = "$.result"
    ITEM_COMPLETE = "$.result.complete"

    @staticmethod
    def job(kind: str, field: str = "") -> str:
        """The record of one job (``run_state.JobRecord``), or one of its fields."""
        return f"$.jobs.{kind}" + (f".{field}" if field else "")
