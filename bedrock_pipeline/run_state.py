"""The run state: what the workflow's first step lays out and every later step reads and extends.

One JSON object travels through the state machine. ``prepare`` (the job driver's first action)
returns a ``PreparedRun``; the state machine then stores each step's result at a fixed path
(``contract.StatePath``), which makes the state a ``RunState`` (the job driver checks the state
it receives against it):

    run          the run document, normalized (``RunSpec.workflow_input()``)
    context      the execution's name and start time (ISO 8601)
    names        job and model names and idempotency tokens per job kind (``run_spec.names_for``)
    flags        which optional steps run: validate, throughput, evaluation,
                 releaseAfterEvaluation
    requests     the validate step's input and the evaluation's configuration (without the
                 custom model, which ``model`` supplies)
    jobs.<kind>  a ``JobRecord`` per job started (customization, training, import, throughput)
    validation   the validate step's result (``valid``, ``reportUri``, ``hyperParameters``...)
    model        ``{"customModelId": ...}``: the provisioned or imported model to evaluate
    evaluation   ``config`` (requests.evaluation merged with model), ``plan``, ``report``
    release      ``{"deleted": ARN | None}`` after the throughput is released
    outcome      SUCCEEDED | NOT_PROMOTED (``contract.Outcome``)
    error, cleanup, cleanupError, notification, notifyError   on the failure path

Field names are the JSON keys' snake_case; every model reads and writes the camelCase keys.
The EventBridge "Step Functions Execution Status Change" event, the other input of the clean-up
and notify functions, is ``ExecutionStatusChange``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _State(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def dump(self) -> dict[str, Any]:
        """The JSON object the state machine carries (camelCase keys)."""
        return self.model_dump(mode="json", by_alias=True)


class ExecutionContext(_State):
    execution_name: str | None  # Step Functions $$.Execution.Name
    start_time: str | None  # $$.Execution.StartTime, ISO 8601


class JobNames(_State):
    job_name: str  # CreateModelCustomizationJob jobName, TrainingJobName, ... (<= 63 chars)
    model_name: str  # customModelName, importedModelName, provisionedModelName
    token: str  # clientRequestToken


class RunNames(_State):
    execution: str  # the execution name
    slug: str  # the run name as it appears in job names
    customization: JobNames
    training: JobNames
    import_: JobNames = Field(alias="import")
    throughput: JobNames


class RunFlags(_State):
    validate_: bool = Field(alias="validate")  # not for trainer=import (nothing to train)
    throughput: bool  # provisionedThroughput requested
    evaluation: bool  # evaluation requested
    release_after_evaluation: bool  # provisionedThroughput.deleteAfterEvaluation


class StepRequests(_State):
    validate_: dict[str, Any] = Field(alias="validate")  # lambdas.validate.logic.ValidateEvent
    evaluation: dict[str, Any]  # lambdas.evaluate.config.EvaluationConfig less customModelId


class JobRecord(_State):
    """One job's record at ``jobs.<kind>``, as ``start`` and each ``poll`` return it."""

    kind: str  # contract.JobKind
    name: str  # job name (the throughput's model name)
    id: str  # the service's identifier: job ARN or name, provisioned model ARN
    adopted: bool  # start found the job this run had already created
    started_at: float  # epoch seconds: the job's creation time
    status: str  # the service's own word (InProgress, Completed, ...)
    done: bool  # the job succeeded: the loop ends
    polls: int  # polls so far
    wait_seconds: int  # the Wait state's seconds before the next poll
    outputs: dict[str, Any]  # ARNs and URIs the next steps read (modelArn, modelUri, ...)
    elapsed: int | None = None  # seconds since started_at, from the first poll on

    def dump(self) -> dict[str, Any]:
        record = super().dump()
        if self.elapsed is None:
            del record["elapsed"]
        return record


class PreparedRun(_State):
    """What ``prepare`` returns: the run state before any other step has run."""

    run: dict[str, Any]
    context: ExecutionContext
    names: RunNames
    flags: RunFlags
    requests: StepRequests
    jobs: dict[str, JobRecord] = Field(default_factory=dict)


class ModelToEvaluate(_State):
    custom_model_id: str  # provisioned model ARN or imported model ARN


class RunState(PreparedRun):
    """The run state as the steps after ``prepare`` receive it: the prepared run plus the
    results stored so far (each absent until its step has run)."""

    validation: dict[str, Any] | None = None  # the validate step's result
    model: ModelToEvaluate | None = None
    evaluation: dict[str, Any] | None = None  # config, plan, report
    release: dict[str, Any] | None = None  # {"deleted": ARN | None}
    outcome: str | None = None  # contract.Outcome


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of EventBridge's "Step Functions Execution Status Change" event
    (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    execution_arn: str | None = None
    name: str | None = None  # the execution name
    status: str | None = None  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, ...
    start_date: float | None = None  # epoch milliseconds
    input: str | None = None  # the execution input (the run document), JSON text
    error: str | None = None
    cause: str | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ExecutionStatusChange | None:
        """The event's detail, or None when ``event`` is not an EventBridge event."""
        detail = event.get("detail")
        return cls.model_validate(detail) if isinstance(detail, Mapping) else None

    @property
    def document(self) -> dict[str, Any]:
        """The run document the execution started with ({} when it is not a JSON object)."""
        try:
            document = json.loads(self.input or "{}")
        except ValueError:
            return {}
        return document if isinstance(document, dict) else {}

    @property
    def start_time(self) -> float | None:
        """Epoch seconds."""
        return self.start_date / 1000 if self.start_date else None
