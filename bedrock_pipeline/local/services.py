"""EMULATION for local mode: the workflow emulator with real work behind three of its jobs.

- SageMaker CreateTrainingJob runs the training container's real entry point
  (``python -m training_image.trainer``) on this CPU, in a thread, against a folder laid out
  as SageMaker's ``/opt/ml`` contract: each channel's S3 prefix (or, for ``ManifestFile``, each
  object its manifest lists, at its suffix) copied to ``input/data/<channel>/``,
  ``input/config/hyperparameters.json``, ``SM_*`` variables.
  DescribeTrainingJob is InProgress while it runs; on exit 0 ``/opt/ml/model`` is uploaded to
  ``<S3OutputPath><job>/output/model/`` (CompressionType NONE), otherwise the job is Failed with
  the container's ``/opt/ml/output/failure`` as FailureReason. StopTrainingJob ends it.
- Bedrock CreateModelImportJob downloads the model data source and runs the real readiness
  check (``bedrock_pipeline.import_check.check_directory``): a model that is not import-ready
  fails the job with the check's summary; a ready one is registered with ``LocalModels``, so
  Converse/InvokeModel on the imported model ARN generate from the trained weights.
- Bedrock Runtime Converse/InvokeModel: ``LocalModels`` (transformers ``generate``).

Bedrock customization jobs (Haiku, Titan, Nova, Llama on Bedrock) stay status-only emulation:
they complete and produce an ARN, nothing is trained.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from bedrock_pipeline.import_check import check_directory
from bedrock_pipeline.local.emulated_bedrock import REGION, JobScript
from bedrock_pipeline.local.emulator import AwsEmulator
from bedrock_pipeline.local.models import LocalModels
from bedrock_pipeline.sources import split_s3_uri

ROOT = Path(__file__).resolve().parents[2]


def download_prefix(uri: str, dest: Path) -> int:
    """Every object under the S3 prefix (or the one object) into dest; returns the count."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket, prefix = split_s3_uri(uri)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            relative = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            # One call on this thread: s3transfer's worker threads would wait for the
            # emulator's lock, which a handler calling this already holds.
            target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            count += 1
    return count


def download_manifest(uri: str, dest: Path) -> int:
    """The objects a SageMaker manifest lists (``[{"prefix": P}, suffix, ...]``) into dest, each
    at its suffix; returns the count. A listed object that does not exist raises KeyError, a
    suffix that leads out of dest ValueError."""
    import json

    s3 = boto3.client("s3", region_name=REGION)
    bucket, key = split_s3_uri(uri)
    head, *suffixes = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    prefix_bucket, prefix = split_s3_uri(head["prefix"])
    for suffix in suffixes:
        target = dest / suffix
        if not target.resolve().is_relative_to(dest.resolve()) or suffix.startswith("/"):
            raise ValueError(f"{suffix!r}, listed in {uri}, leads out of the channel")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            body = s3.get_object(Bucket=prefix_bucket, Key=prefix + suffix)["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise KeyError(f"s3://{prefix_bucket}/{prefix}{suffix}") from None
        target.write_bytes(body)
    return len(suffixes)


def upload_directory(source: Path, uri: str) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    bucket, prefix = split_s3_uri(uri)
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(source).as_posix()
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ContainerJob:
    """One CreateTrainingJob request, run by the container's entry point in a thread."""

    def __init__(
        self, request: dict[str, Any], workdir: Path, nproc: int, environment: dict[str, str]
    ) -> None:
        self.request = request
        self.environment = environment
        self.name: str = request["TrainingJobName"]
        self.workdir = workdir
        self.nproc = nproc
        self.status = "InProgress"
        self.failure_reason: str | None = None
        self.log = workdir / "container.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._run, name=f"training-{self.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    def _run(self) -> None:
        try:
            self._status(self._train())
        except Exception as exc:  # an emulator fault is the job's failure, as SageMaker reports
            self._status(f"local mode could not run the container: {exc}")

    def _status(self, failure: str | None) -> None:
        self.failure_reason = failure
        self.status = "Completed" if failure is None else "Failed"

    def _train(self) -> str | None:
        opt_ml = self.workdir / "opt_ml"
        env = {**self.environment, **self.request.get("Environment", {})}
        for channel in self.request["InputDataConfig"]:
            name = channel["ChannelName"]
            source = channel["DataSource"]["S3DataSource"]
            uri = source["S3Uri"]
            target = opt_ml / "input" / "data" / name
            if source["S3DataType"] == "ManifestFile":
                try:
                    download_manifest(uri, target)
                except KeyError as missing:
                    return f"channel {name}: {missing.args[0]}, listed in {uri}, does not exist"
                except ValueError as outside:
                    return f"channel {name}: {outside}"
            elif download_prefix(uri, target) == 0:
                return f"channel {name}: no objects under {uri}"
            env[f"SM_CHANNEL_{name.upper()}"] = str(target)
        config = opt_ml / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        import json

        (config / "hyperparameters.json").write_text(json.dumps(self.request["HyperParameters"]))
        model = opt_ml / "model"
        env |= {
            "SM_INPUT_CONFIG_DIR": str(config),
            "SM_MODEL_DIR": str(model),
            "SM_OUTPUT_DIR": str(opt_ml / "output"),
            "TRAINER_CHECKPOINT_DIR": str(opt_ml / "checkpoints"),
            "TRAINER_NPROC_PER_NODE": str(self.nproc),
            # One thread per process: CPU jobs beside the evaluation and other work.
            "OMP_NUM_THREADS": "1",
            "TRAINER_MASTER_PORT": str(_free_port()),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "training_image.trainer"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            code = self._process.wait()
        if code != 0:
            failure = opt_ml / "output" / "failure"
            reason = failure.read_text().strip() if failure.is_file() else ""
            return reason or f"the container exited with code {code}; log: {self.log}"
        output = self.request["OutputDataConfig"]["S3OutputPath"]
        upload_directory(model, f"{output.rstrip('/')}/{self.name}/output/model/")
        return None


class LocalEmulator(AwsEmulator):
    """``AwsEmulator`` whose training jobs, import jobs and runtime answers are real work."""

    def __init__(
        self,
        workdir: Path,
        models: LocalModels,
        *,
        nproc: int = 1,
        say: Callable[[str], None] = print,
    ) -> None:
        super().__init__()
        self.workdir = workdir
        self.models = models
        self.nproc = nproc
        self.say = say
        self.real_wait_s = 2.0
        # The process environment as it is now: handlers swap os.environ while they run, so
        # the container's is taken from this copy, never from os.environ in its thread.
        self.environment = dict(os.environ)
        self.containers: dict[str, ContainerJob] = {}
        self.import_checks: dict[str, str] = {}  # job name -> readiness summary

    # -- SageMaker training: the container's entry point ------------------------------------
    def _sagemaker_CreateTrainingJob(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        response = super()._sagemaker_CreateTrainingJob(params, moto)
        name = params["TrainingJobName"]
        job = ContainerJob(params, self.workdir / "training" / name, self.nproc, self.environment)
        job.workdir.mkdir(parents=True, exist_ok=True)
        self.containers[name] = job
        self.say(f"training job {name}: the container's entry point on this CPU ({job.log})")
        job.start()
        return response

    def _sagemaker_DescribeTrainingJob(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        job = self._find("training", params["TrainingJobName"], "DescribeTrainingJob")
        container = self.containers[job.name]
        moto_job = self._moto("sagemaker").training_jobs[job.name]
        status = "Stopped" if job.stopped and container.status == "InProgress" else container.status
        moto_job.training_job_status = status
        moto_job.creation_time = self._iso(job.created)
        if status == "Failed":
            moto_job.failure_reason = container.failure_reason
        return moto()

    def _sagemaker_StopTrainingJob(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        response = super()._sagemaker_StopTrainingJob(params, moto)
        container = self.containers.get(params["TrainingJobName"])
        if container is not None:
            container.stop()
        return response

    # -- Custom Model Import: the real readiness check, then registration --------------------
    def _bedrock_CreateModelImportJob(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        response = super()._bedrock_CreateModelImportJob(params, moto)
        job = self.jobs[("import", params["jobName"])]
        if job.name in self.import_checks:
            return response  # the same request again (clientRequestToken): checked already
        directory = self.workdir / "imported" / job.name
        download_prefix(params["modelDataSource"]["s3DataSource"]["s3Uri"], directory)
        check = check_directory(directory)
        self.import_checks[job.name] = check.summary()
        self.say(f"import job {job.name}: {check.summary()}")
        if check.ready:
            self.models.register(job.extra["modelArn"], directory)
        else:
            job.script = JobScript(outcome="Failed", message=check.summary())
        return response

    # -- Bedrock Runtime: local weights ---------------------------------------------------------
    def _bedrock_runtime_Converse(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        return self.models.converse(params)

    def _bedrock_runtime_InvokeModel(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        return self.models.invoke_model(params)
