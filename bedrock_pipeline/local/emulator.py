"""EMULATION. What moto 5.2 lacks to run the workflow, added around it (docs/workflow.md and
docs/local.md list every extension). The workflow tests and local mode (``local.py``) use it; it
enforces no IAM or KMS policy.

1. Virtual time: moto's Wait state sleeps for real; here it advances a clock instead, which the
   job driver reads (``lambdas.jobs.clock.now``) and the emulated jobs age by. A 24-hour job runs
   in milliseconds. ``hold_waits`` parks executions in their Wait state (for cancellation).
2. Job status transitions: moto's customization jobs stay InProgress and its training jobs are
   Completed at once; here each job follows a script (duration, outcome, failure message). A
   completed training job leaves an importable model directory in S3 (CompressionType NONE).
3. Bedrock Custom Model Import (CreateModelImportJob, GetModelImportJob) and provisioned
   throughput (Create/Get/DeleteProvisionedModelThroughput): not in moto; emulated in
   ``emulated_bedrock.py``, with name conflicts and clientRequestToken idempotency.
4. Idempotency moto skips: CreateModelCustomizationJob with the same clientRequestToken returns
   the existing job; CreateTrainingJob with a taken name is ResourceInUse; StopTrainingJob.
5. bedrock-runtime Converse / InvokeModel answered by a test-supplied function
   (``emulated_bedrock.py``).
6. Throttling injected per operation (ThrottlingException) to exercise the retries.
7. "Step Functions Execution Status Change" events: moto's StopExecution emits none; here the
   ABORTED event is delivered to the synthesized rule's Lambda targets when its pattern matches.

Everything hooks ``botocore.client.BaseClient._make_api_call``, so the real handlers' boto3
clients see the emulator exactly as they would see AWS; other calls go to moto unchanged.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from botocore.client import BaseClient

from bedrock_pipeline.local.emulated_bedrock import (
    ACCOUNT,
    REGION,
    BedrockExtensions,
    EmulatedJob,
    JobScript,
    client_error,
)
from bedrock_pipeline.local.tiny_weights import tiny_llama_files
from bedrock_pipeline.registry import IMPORT
from bedrock_pipeline.sources import split_s3_uri


class Patches:
    """``setattr`` with undo: pytest's ``monkeypatch`` outside pytest (local mode)."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def setattr(self, target: Any, name: str, value: Any) -> None:
        self._saved.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    def undo(self) -> None:
        while self._saved:
            target, name, value = self._saved.pop()
            setattr(target, name, value)


class VirtualClock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


class AwsEmulator(BedrockExtensions):
    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.lock = threading.RLock()
        self.scripts: dict[str, JobScript] = {}
        self.jobs: dict[tuple[str, str], EmulatedJob] = {}  # (kind, name)
        self.deleted_throughput: list[str] = []
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.throttles: dict[tuple[str, str], int] = {}
        self.answer: Callable[[str, str], str] = lambda model, question: "I am not sure."
        self.hold_waits = False
        self.waiting = threading.Event()  # set while an execution sits in a held Wait
        self.status_change_targets: Callable[[dict[str, Any]], None] | None = None
        # Local mode: each Wait sleeps this long (at most its waitSeconds) in real time instead
        # of advancing the virtual clock, so jobs that run for real (the training container)
        # are polled every few seconds and age as they really do.
        self.real_wait_s = 0.0
        self._moto_clients: dict[str, Any] = {}

    # -- test controls ---------------------------------------------------------------------
    def script(
        self,
        kind: str,
        duration_s: float = 0.0,
        outcome: str = "Completed",
        message: str | None = None,
    ) -> None:
        self.scripts[kind] = JobScript(duration_s, outcome, message)

    def throttle(self, service: str, operation: str, times: int) -> None:
        self.throttles[(service, operation)] = times

    def requests(self, service: str, operation: str) -> list[dict[str, Any]]:
        return [p for s, o, p in self.calls if s == service and o == operation]

    def job(self, kind: str) -> EmulatedJob:
        matches = [j for (k, _), j in self.jobs.items() if k == kind]
        assert len(matches) == 1, f"{len(matches)} {kind} jobs: {[j.name for j in matches]}"
        return matches[0]

    # -- installation ----------------------------------------------------------------------
    def install(self, monkeypatch: Any) -> None:
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
            WaitFunction,
        )

        from lambdas.jobs import clock

        original = BaseClient._make_api_call
        emulator = self

        def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name

            def moto(replaced: dict[str, Any] | None = None) -> Any:
                return original(client, operation, params if replaced is None else replaced)

            return emulator.dispatch(service, operation, dict(params), moto)

        def wait_interval(wait: Any, env: Any, wait_seconds: int) -> None:
            if emulator.hold_waits:
                emulator.waiting.set()
                while emulator.hold_waits and env.is_running():
                    time.sleep(0.02)
            if emulator.real_wait_s:  # real jobs age in real time: poll often, skip no time
                time.sleep(min(float(wait_seconds), emulator.real_wait_s))
                return
            emulator.clock.advance(wait_seconds)

        monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
        monkeypatch.setattr(WaitFunction, "_wait_interval", wait_interval)
        monkeypatch.setattr(clock, "now", self.clock.now)

    # -- dispatch ----------------------------------------------------------------------------
    def dispatch(
        self, service: str, operation: str, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        with self.lock:
            self.calls.append((service, operation, params))
            left = self.throttles.get((service, operation), 0)
            if left:
                self.throttles[(service, operation)] = left - 1
                raise client_error("ThrottlingException", "Rate exceeded (emulated)", operation)
        handler = getattr(self, f"_{service.replace('-', '_')}_{operation}", None)
        if handler is None:
            response = moto()
            if service == "stepfunctions" and operation == "StopExecution":
                self._emit_stopped(params["executionArn"])
            return response
        with self.lock:
            return handler(params, moto)

    def _moto(self, service: str) -> Any:
        from moto.backends import get_backend

        # get_backend is overloaded per literal service name; here the name is a runtime value.
        by_name = cast(Callable[[str], Any], get_backend)
        return by_name(service)[ACCOUNT][REGION]

    def _new(self, kind: str, name: str, arn: str, request: dict[str, Any]) -> EmulatedJob:
        job = EmulatedJob(
            kind, name, arn, self.clock.now(), self.scripts.get(kind, JobScript()), request
        )
        self.jobs[(kind, name)] = job
        return job

    def _find(self, kind: str, identifier: str, operation: str) -> EmulatedJob:
        for (k, name), job in self.jobs.items():
            if k == kind and identifier in (name, job.arn):
                return job
        raise client_error(
            "ResourceNotFoundException", f"{kind} {identifier} not found", operation, 404
        )

    # -- Bedrock customization (moto, plus transitions and token idempotency) -----------------
    def _bedrock_CreateModelCustomizationJob(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        name = params["jobName"]
        existing = self.jobs.get(("customization", name))
        if existing is not None:
            if existing.request.get("clientRequestToken") == params.get("clientRequestToken"):
                return {"jobArn": existing.arn}
            raise client_error(
                "ConflictException", f"job {name} already exists", "CreateModelCustomizationJob"
            )
        response = moto()
        job = self._new("customization", name, response["jobArn"], params)
        moto_job = self._moto("bedrock").model_customization_jobs[name]
        moto_job.creation_time = self._iso(job.created).isoformat()
        return response

    def _bedrock_GetModelCustomizationJob(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        job = self._find("customization", params["jobIdentifier"], "GetModelCustomizationJob")
        moto_job = self._moto("bedrock").model_customization_jobs[job.name]
        moto_job.status = job.status(self.clock.now(), "InProgress", "Completed")
        moto_job.failure_message = job.script.message if moto_job.status == "Failed" else None
        return moto({"jobIdentifier": job.name})  # moto finds jobs by name only

    def _bedrock_StopModelCustomizationJob(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        job = self._find("customization", params["jobIdentifier"], "StopModelCustomizationJob")
        job.stopped = True
        return moto({"jobIdentifier": job.name})

    # -- SageMaker training (moto, plus transitions, name conflicts, stop, model output) ------
    def _sagemaker_CreateTrainingJob(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        name = params["TrainingJobName"]
        if ("training", name) in self.jobs:
            raise client_error(
                "ResourceInUse", f"Training job names must be unique: {name}", "CreateTrainingJob"
            )
        response = moto()
        self._new("training", name, response["TrainingJobArn"], params)
        return response

    def _sagemaker_DescribeTrainingJob(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        job = self._find("training", params["TrainingJobName"], "DescribeTrainingJob")
        moto_job = self._moto("sagemaker").training_jobs[job.name]
        status = job.status(self.clock.now(), "InProgress", "Completed")
        moto_job.training_job_status = status
        moto_job.creation_time = self._iso(job.created)
        if status == "Failed":
            moto_job.failure_reason = job.script.message
        if status == "Completed" and not job.extra.get("model_written"):
            self._write_model(job)
        return moto()

    def _sagemaker_StopTrainingJob(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        self._find("training", params["TrainingJobName"], "StopTrainingJob").stopped = True
        return {}

    def _write_model(self, job: EmulatedJob) -> None:
        """What the training container leaves in /opt/ml/model, uploaded without compression."""
        bucket, prefix = split_s3_uri(job.request["OutputDataConfig"]["S3OutputPath"])
        import boto3

        s3 = boto3.client("s3", region_name=REGION)
        files = {name: b"{}" for name in IMPORT.required_files}
        files |= {IMPORT.tokenizer_files[0]: b"{}", **tiny_llama_files()}
        for name, body in files.items():
            s3.put_object(Bucket=bucket, Key=f"{prefix}{job.name}/output/model/{name}", Body=body)
        job.extra["model_written"] = True

    # -- Step Functions status-change events --------------------------------------------------
    def _emit_stopped(self, execution_arn: str) -> None:
        if self.status_change_targets is None:
            return
        import boto3

        execution = boto3.client("stepfunctions", region_name=REGION).describe_execution(
            executionArn=execution_arn
        )
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": ACCOUNT,
            "region": REGION,
            "time": datetime.now(tz=UTC).isoformat(),
            "resources": [execution_arn],
            "detail": {
                "executionArn": execution_arn,
                "stateMachineArn": execution["stateMachineArn"],
                "name": execution["name"],
                "status": "ABORTED",
                "startDate": int(execution["startDate"].timestamp() * 1000),
                "input": execution["input"],
                "error": None,
                "cause": None,
            },
        }
        self.status_change_targets(event)
