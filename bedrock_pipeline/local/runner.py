"""Local mode: one run of the synthesized state machine with the real handlers, in emulation.

``run_locally`` deploys the stage's synthesized templates into moto (``deployment.py``: every
token of the definition resolved, nothing written by hand), installs ``LocalEmulator``
(``services.py``), copies the run's input files into the emulated S3, starts the execution with
the run document as the API would, waits for it and writes what a deployed stage leaves behind
into ``out``:

    run.json               status, outcome, the execution's output, error/cause, what answered
                           each model and which parts were emulated
    events.jsonl           the execution history (Step Functions GetExecutionHistory)
    run-events.jsonl       the pipeline's EventBridge events
    notifications.jsonl    the messages published to the run topic
    artifacts/             s3://<artifacts bucket>/runs/<runName>/ (validation report,
                           images manifest, evaluation batches, report.json|md|png)
    work/                  the training jobs' /opt/ml folders and container logs

A run first removes these from ``out``, so they are always one run's. The handlers log at
WARNING (``BCP_LOCAL_LOG_LEVEL`` sets another level).

Input files: every ``s3://BUCKET/KEY`` the document names is served from ``files/BUCKET/KEY``
(a folder is a prefix). IAM and KMS are not enforced (moto does not).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from bedrock_pipeline.local.deployment import MotoDeployment, deploy_into_moto
from bedrock_pipeline.local.emulated_bedrock import REGION
from bedrock_pipeline.local.emulator import Patches
from bedrock_pipeline.local.models import LocalModels
from bedrock_pipeline.local.services import LocalEmulator, upload_directory
from bedrock_pipeline.run_spec import RunSpec, Trainer, evaluation_base_model_id, inference_model_id

S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(/[^\s\"]*)?")
# What a run writes into `out` (the module docstring), removed before the next run there.
OUTPUTS = (
    "run.json",
    "events.jsonl",
    "run-events.jsonl",
    "notifications.jsonl",
    "artifacts",
    "work",
)
EMULATED = (
    "AWS services: moto 5.2.5 with local-mode extensions (no IAM or KMS enforcement)",
    "Step Functions: moto's interpreter; Wait states last at most 2 s",
)


@dataclass(frozen=True)
class LocalRun:
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    outcome: str | None  # PROMOTED | NOT_PROMOTED | ... (the workflow's output)
    summary: dict[str, Any]
    out: Path


CHECKOUT = Path(__file__).resolve().parents[2]


class NotACheckoutError(RuntimeError):
    """Local mode synthesizes the stage (``stacks/``) and runs the container
    (``training_image/``): both live in the repository, not in the installed package."""


def use_checkout() -> Path:
    """The repository this package was installed from (editable install or ``PYTHONPATH``),
    put on ``sys.path``; NotACheckoutError when ``stacks/`` or ``training_image/`` is absent."""
    missing = [d for d in ("stacks", "training_image") if not (CHECKOUT / d).is_dir()]
    if missing:
        raise NotACheckoutError(
            f"local mode runs from a checkout of the repository (pip install -e .); "
            f"{', '.join(missing)} not found beside {CHECKOUT / 'bedrock_pipeline'}"
        )
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    return CHECKOUT


def synthesize_templates(stage: str, outdir: Path) -> dict[str, dict[str, Any]]:
    """The stage's templates, synthesized here (as ``make synth``; needs no AWS account)."""
    use_checkout()
    # The jsii runtime's Node version banners, silenced as the Makefile does (Node 20 is the
    # version the project pins its CDK CLI for).
    for banner in ("END_OF_LIFE", "DEPRECATED"):
        os.environ.setdefault(f"JSII_SILENCE_WARNING_{banner}_NODE_VERSION", "20")
    from stacks.pipeline_app import build_app

    build_app(stage, outdir=str(outdir)).app.synth()
    return read_templates(outdir)


def read_templates(outdir: Path) -> dict[str, dict[str, Any]]:
    """Templates of an existing cloud assembly (``cdk synth``'s output folder)."""
    templates = {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in outdir.glob("*.template.json")
    }
    if not any(n.endswith("-workflow") for n in templates):
        raise FileNotFoundError(f"{outdir} holds no <prefix>-workflow.template.json")
    return templates


def _stage_buckets(deployment: MotoDeployment) -> dict[str, str]:
    data = deployment.stack_named("-data")
    resources = deployment.templates[data]["Resources"]
    return {
        logical: value["Ref"]
        for (stack, logical), value in deployment.values.items()
        if stack == data and resources.get(logical, {}).get("Type") == "AWS::S3::Bucket"
    }


def _stage_files(document: Mapping[str, Any], files: Path | None) -> None:
    """Create every bucket the document names and copy files/BUCKET/... into it."""
    s3 = boto3.client("s3", region_name=REGION)
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for bucket in sorted({m.group(1) for m in S3_URI.finditer(json.dumps(document))}):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
            existing.add(bucket)
        if files is not None and (files / bucket).is_dir():
            upload_directory(files / bucket, f"s3://{bucket}/")


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _drain(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return bodies
        for message in got["Messages"]:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _capture(deployment: MotoDeployment) -> tuple[str, str]:
    """SQS queues on the run topic and on the pipeline's EventBridge events."""
    sqs = boto3.client("sqs", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    events = boto3.client("events", region_name=REGION)

    def queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    notifications, notifications_arn = queue("local-notifications")
    (topic,) = sns.list_topics()["Topics"]
    sns.subscribe(
        TopicArn=topic["TopicArn"],
        Protocol="sqs",
        Endpoint=notifications_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    run_events, run_events_arn = queue("local-run-events")
    events.put_rule(
        Name="local-run-events",
        EventPattern=json.dumps({"source": ["bedrock-customization-pipeline"]}),
    )
    events.put_targets(Rule="local-run-events", Targets=[{"Id": "q", "Arn": run_events_arn}])
    return notifications, run_events


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(r, default=str, sort_keys=True) + "\n" for r in rows))


def run_locally(
    document: Mapping[str, Any],
    *,
    templates: Mapping[str, dict[str, Any]],
    out: Path,
    files: Path | None = None,
    weights: Mapping[str, Path] | None = None,
    nproc: int = 1,
    timeout_s: float = 3600.0,
    say: Callable[[str], None] = print,
) -> LocalRun:
    """Run ``document`` (a run document; ``RunSpecError``/pydantic errors when invalid)."""
    from moto import mock_aws
    from moto.core.config import DefaultConfig

    spec = RunSpec.model_validate(document)
    out.mkdir(parents=True, exist_ok=True)
    for stale in OUTPUTS:  # a run replaces what an earlier run of the name left in `out`
        path = out / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    models = LocalModels({k: Path(v) for k, v in (weights or {}).items()})
    notes = list(EMULATED)
    if spec.trainer == Trainer.BEDROCK:
        notes.append(
            "Bedrock customization job: EMULATED job status only, nothing is trained "
            "(Haiku, Titan, Nova and Bedrock's Llama have no local weights)"
        )
        models.bedrock_trained_stand_in = models.weights.get(inference_model_id(spec.base_model_id))
    compared = evaluation_base_model_id(spec)
    if compared is not None and models.stand_in(compared, spec.base_model_id):
        notes.append(
            f"evaluation base model {compared}: EMULATED by the local weights of "
            f"{spec.base_model_id} (pass --model {compared}=DIR for weights of its own)"
        )
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    # Powertools, when an invocation emitted no metric (metrics are off in local mode).
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    saved_env = dict(os.environ)
    os.environ.update(
        POWERTOOLS_TRACE_DISABLED="1",
        POWERTOOLS_METRICS_DISABLED="1",
        # The handlers' INFO lines would interleave with the run's own progress lines.
        POWERTOOLS_LOG_LEVEL=os.environ.get("BCP_LOCAL_LOG_LEVEL", "WARNING"),
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION=REGION,
    )
    os.environ.pop("AWS_PROFILE", None)
    patches = Patches()
    config: DefaultConfig = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }
    try:
        with mock_aws(config=config):
            emulator = LocalEmulator(out / "work", models, nproc=nproc, say=say)
            emulator.install(patches)
            deployment = deploy_into_moto(templates, emulator, patches)
            notifications, run_events = _capture(deployment)
            _stage_files(document, files)
            sfn = boto3.client("stepfunctions", region_name=REGION)
            arn = sfn.start_execution(
                stateMachineArn=deployment.state_machine_arn,
                name=spec.execution_name,
                input=json.dumps(spec.workflow_input(), sort_keys=True),
            )["executionArn"]
            say(f"started {spec.run_name} ({spec.trainer.value} trainer) in local mode")
            described = _wait(sfn, arn, timeout_s, say)
            history = _history(sfn, arn)
            sqs = boto3.client("sqs", region_name=REGION)
            _write_jsonl(out / "events.jsonl", history)
            _write_jsonl(out / "run-events.jsonl", [json.loads(b) for b in _drain(sqs, run_events)])
            _write_jsonl(out / "notifications.jsonl", _drain(sqs, notifications))
            artifacts = _stage_buckets(deployment)
            bucket = next(v for k, v in artifacts.items() if "Artifacts" in k)
            from bedrock_pipeline.local.services import download_prefix

            download_prefix(f"s3://{bucket}/runs/{spec.run_name}/", out / "artifacts")
    finally:
        patches.undo()
        os.environ.clear()
        os.environ.update(saved_env)
    output = json.loads(described["output"]) if described.get("output") else None
    summary = {
        "runName": spec.run_name,
        "trainer": spec.trainer.value,
        "status": described["status"],
        "outcome": (output or {}).get("outcome"),
        "output": output,
        "error": described.get("error"),
        "cause": described.get("cause"),
        "stateTransitions": sum(1 for e in history if e["type"].endswith("StateEntered")),
        "servedBy": models.served,
        "importChecks": emulator.import_checks,
        "emulated": notes,
    }
    (out / "run.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return LocalRun(described["status"], summary["outcome"], summary, out)


def _wait(sfn: Any, arn: str, timeout_s: float, say: Callable[[str], None]) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last, next_report = "", 0.0
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return dict(described)
        if time.monotonic() >= next_report:  # the history grows: read it now and then
            next_report = time.monotonic() + 30.0
            entered = [
                e["stateEnteredEventDetails"]["name"]
                for e in _history(sfn, arn)
                if "stateEnteredEventDetails" in e
            ]
            if entered and entered[-1] != last:
                last = entered[-1]
                say(f"  {last}")
        if time.monotonic() > deadline:
            sfn.stop_execution(executionArn=arn, cause="local mode: --timeout reached")
        time.sleep(2.0)
