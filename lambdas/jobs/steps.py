"""The job driver's actions: prepare the run, start / poll a job, release throughput, clean up.

Each action is a pure function over a mapping of boto3 clients (``bedrock``, ``sagemaker``,
``s3``) and the deployment settings; ``handler.py`` only dispatches. The state machine passes
the run state (``bedrock_pipeline.run_state``) and stores what an action returns at the path
``contract.StatePath`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bedrock_pipeline.aws.import_check import check_s3_prefix
from bedrock_pipeline.aws.retry import call_with_retry, error_code, is_retryable
from bedrock_pipeline.run_spec import (
    RunSpecError,
    evaluation_base_model_id,
    inference_model_id,
    names_for,
    parse_run_spec,
)
from bedrock_pipeline.run_state import (
    ExecutionContext,
    ExecutionStatusChange,
    JobRecord,
    PreparedRun,
    RunFlags,
    RunNames,
    StepRequests,
)
from bedrock_pipeline.training_contract import GPUS_PER_INSTANCE, world_size
from lambdas.jobs import clock, requests
from lambdas.jobs.errors import (
    ImportNotReady,
    JobFailed,
    JobRequestRejected,
    JobStopped,
    JobTimedOut,
    translate,
)
from lambdas.jobs.kinds import BACKOFF, CONFLICT_CODES, KINDS, JobKind, Phase
from lambdas.jobs.settings import Settings

# A job created this long before its execution started belongs to an earlier run of the name.
CLOCK_SKEW_S = 300
# The run document's fields the validate step reads (its ValidateEvent).
VALIDATE_FIELDS = ("runName", "baseModelId", "customizationType", "trainer", "trainingDataUri",
                   "validationDataUri", "teacherModelId", "invocationLogsConfig")  # fmt: skip
BUILDERS: dict[str, Callable[[Mapping[str, Any], Settings], dict[str, Any]]] = {
    "customization": requests.customization,
    "training": requests.training,
    "import": requests.model_import,
    "throughput": requests.throughput,
}


def prepare(document: Any, context: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Parse the run document (``RunSpecError`` names the field) and lay out the run state."""
    spec = parse_run_spec(document)
    wanted = inference_model_id(spec.base_model_id)
    allowed = settings.ALLOWED_BASE_MODELS
    # The stage's list names Bedrock base models; container and import runs name registry
    # architectures (container/llama3) or weights of their own. It restricts what the stage
    # customizes, not evaluation.baseModelId: that model is only invoked, within the grant of
    # the evaluation step's role, like the comparison models.
    if (
        spec.trainer == "bedrock"
        and allowed
        and wanted not in {inference_model_id(m) for m in allowed}
    ):
        raise RunSpecError(
            "baseModelId",
            f"{spec.base_model_id!r} is not enabled in this stage; allowed: {', '.join(allowed)}",
        )
    run = spec.workflow_input()
    validate: dict[str, Any] = {k: run[k] for k in VALIDATE_FIELDS if k in run}
    validate["hyperParameters"] = (run.get("container") or {}).get(
        "hyperParameters", run["hyperParameters"]
    )
    container = run.get("container") or {}
    if container.get("instanceType") in GPUS_PER_INSTANCE:
        # The container splits batchSize over every GPU: the validate step checks that it can.
        validate["gpus"] = world_size(container["instanceType"], container["instanceCount"])
    evaluation: dict[str, Any] = {}
    if spec.evaluation is not None:
        evaluation = {
            "decisionMetric": settings.DECISION_METRIC,  # the run document's choice wins
            **run["evaluation"],
            "runId": spec.run_name,
            # The Bedrock model to compare against: the document's, or the run's own base model.
            "baseModelId": evaluation_base_model_id(spec),
            "customModelApi": "auto",
            "minF1Gain": settings.MIN_F1_GAIN,
        }
    throughput = spec.provisioned_throughput
    return PreparedRun(
        run=run,
        context=ExecutionContext(
            execution_name=context.get("executionName"), start_time=context.get("startTime")
        ),
        names=RunNames.model_validate(names_for(spec.run_name, settings.STAGE_PREFIX)),
        flags=RunFlags(
            validate_=spec.trainer != "import",
            throughput=throughput is not None,
            evaluation=spec.evaluation is not None,
            release_after_evaluation=bool(throughput and throughput.delete_after_evaluation),
        ),
        requests=StepRequests(validate_=validate, evaluation=evaluation),
    ).dump()


def _identifier(kind: JobKind, state: Mapping[str, Any]) -> str:
    names = state["names"][kind.name]
    # Provisioned throughput is looked up by its model name; jobs by job name.
    return str(names["modelName"] if kind.name == "throughput" else names["jobName"])


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def start(
    kind_name: str, state: Mapping[str, Any], clients: Mapping[str, Any], settings: Settings
) -> dict[str, Any]:
    """Create the job (or adopt the one this run already created) and return its record."""
    kind = KINDS[kind_name]
    name = _identifier(kind, state)
    if kind.name == "import":
        source = requests.import_source(state, settings)
        check = check_s3_prefix(clients["s3"], source)
        if not check.ready:
            raise ImportNotReady(
                f"{source} is not ready for Custom Model Import:\n{check.summary()}"
            )
    request = BUILDERS[kind.name](state, settings)
    client = clients[kind.service]
    adopted = False
    try:
        identifier = call_with_retry(kind.create, client, request, backoff=BACKOFF)
    except ClientError as exc:
        if error_code(exc) not in CONFLICT_CODES:
            raise translate(exc, f"start {kind.label} {name}") from exc
        # Same name: a retry of this very step (Lambda or state machine retry) already created
        # it. Adopt it, unless it predates this execution (an earlier run of the same name).
        identifier, adopted = name, True
    described = kind.describe_job(client, identifier)
    started = _epoch(state["context"].get("startTime"))
    if (
        described.created_at is not None
        and started is not None
        and described.created_at < started - CLOCK_SKEW_S
    ):
        created = datetime.fromtimestamp(described.created_at).isoformat()
        raise JobRequestRejected(
            f"{kind.label} {name} was created {created}, before this run started: it belongs "
            "to an earlier run of the same runName; choose a new runName"
        )
    now = clock.now()
    began = described.created_at if described.created_at is not None else now
    return JobRecord(
        kind=kind.name,
        name=name,
        id=identifier,
        adopted=adopted,
        started_at=began,
        status=described.status,
        done=False,
        polls=0,
        wait_seconds=settings.schedule.next_wait(now - began),
        outputs=described.outputs,
    ).dump()


def poll(
    kind_name: str, state: Mapping[str, Any], clients: Mapping[str, Any], settings: Settings
) -> dict[str, Any]:
    """Look at the job once: done, wait again (how long), or raise why the run cannot go on."""
    kind = KINDS[kind_name]
    record = JobRecord.model_validate(state["jobs"][kind.name])
    described = kind.describe_job(clients[kind.service], record.id)
    elapsed = clock.now() - record.started_at
    record = record.model_copy(
        update={"status": described.status, "polls": record.polls + 1, "elapsed": int(elapsed)}
    )
    if described.phase == Phase.FAILED:
        raise JobFailed(
            f"{kind.label} {record.name} failed: {described.message or 'no reason given'}"
        )
    if described.phase == Phase.STOPPED:
        raise JobStopped(
            f"{kind.label} {record.name} was stopped outside the workflow ({described.status})"
        )
    if described.phase == Phase.SUCCEEDED:
        outputs = dict(described.outputs)
        if kind.name == "training":
            outputs["modelUri"] = requests.trained_model_uri(state, settings)
        return record.model_copy(
            update={"done": True, "wait_seconds": 0, "outputs": outputs}
        ).dump()
    if settings.schedule.timed_out(elapsed):
        raise JobTimedOut(
            f"{kind.label} {record.name} is still {described.status} after {int(elapsed)} s; "
            f"the stage allows {settings.schedule.timeout_s} s (poll.timeout_s)"
        )
    return record.model_copy(update={"wait_seconds": settings.schedule.next_wait(elapsed)}).dump()


def release(state: Mapping[str, Any], clients: Mapping[str, Any]) -> dict[str, Any]:
    """Delete the run's provisioned throughput (after evaluation, or when not promoted)."""
    record = (state.get("jobs") or {}).get("throughput")
    if not record:
        return {"deleted": None}
    kind = KINDS["throughput"]
    assert kind.stop is not None
    try:
        call_with_retry(kind.stop, clients["bedrock"], record["id"], backoff=BACKOFF)
    except ClientError as exc:
        if error_code(exc) not in {"ResourceNotFoundException"}:
            raise translate(exc, f"delete {kind.label} {record['name']}") from exc
    return {"deleted": record["outputs"].get("provisionedModelArn") or record["id"]}


def _cleanup_source(event: Mapping[str, Any]) -> tuple[dict[str, Any], float | None]:
    """(run document, execution start) from the state machine's Catch or an EventBridge event."""
    change = ExecutionStatusChange.from_event(event)
    if change is not None:
        return change.document, change.start_time
    state = event.get("state") or {}
    document = state.get("run", state) if isinstance(state, Mapping) else {}
    return dict(document), _epoch(event.get("executionStartTime"))


def cleanup(
    event: Mapping[str, Any], clients: Mapping[str, Any], settings: Settings
) -> dict[str, Any]:
    """Stop every job and delete the throughput this run started; safe to run twice.

    Finds resources by the run's derived names, so it works from the raw input alone (the
    Catch after any step, or the EventBridge rule for aborted and timed-out executions)."""
    document, started = _cleanup_source(event)
    run_name = document.get("runName")
    result: dict[str, Any] = {"stopped": [], "notes": []}
    if not isinstance(run_name, str) or not run_name:
        result["notes"].append("no runName in the input: nothing was started")
        return result
    state = {"names": names_for(run_name, settings.STAGE_PREFIX)}
    for kind in KINDS.values():
        name = _identifier(kind, state)
        found = kind.find(clients[kind.service], name)
        if found is None:
            continue
        if (
            started is not None
            and found.created_at is not None
            and found.created_at < started - CLOCK_SKEW_S
        ):
            result["notes"].append(f"{kind.label} {name} belongs to an earlier run: left alone")
            continue
        if kind.name != "throughput" and found.phase != Phase.RUNNING:
            continue
        if kind.stop is None:
            result["notes"].append(f"{kind.label} {name} is {found.status}; Bedrock cannot stop it")
            continue
        try:
            call_with_retry(kind.stop, clients[kind.service], name, backoff=BACKOFF)
        except ClientError as exc:
            if is_retryable(exc):  # the state machine retries the whole clean-up later
                raise translate(exc, f"stop {kind.label} {name}") from exc
            result["notes"].append(f"{kind.label} {name}: {error_code(exc)}: could not stop it")
            continue
        result["stopped"].append({"kind": kind.name, "name": name, "status": found.status})
    return result
