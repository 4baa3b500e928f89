"""Bedrock APIs moto 5.2 does not have, for the workflow emulator (``emulator.py``): Custom
Model Import jobs, provisioned throughput and bedrock-runtime answers. Jobs follow the same
scripts (duration, outcome, message) as the moto-backed kinds."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

ACCOUNT, REGION = "123456789012", "us-east-1"


def client_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


@dataclass
class JobScript:
    duration_s: float = 0.0
    outcome: str = "Completed"  # or "Failed"
    message: str | None = None


@dataclass
class EmulatedJob:
    kind: str
    name: str
    arn: str
    created: float
    script: JobScript
    request: dict[str, Any]
    stopped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def status(self, now: float, running: str, done: str) -> str:
        if self.stopped:
            return "Stopped"
        if now - self.created < self.script.duration_s:
            return running
        return done if self.script.outcome == "Completed" else self.script.outcome


class BedrockExtensions:
    """Mixed into ``AwsEmulator``; uses its ``jobs``, ``clock``, ``answer`` and helpers."""

    jobs: dict[tuple[str, str], EmulatedJob]
    deleted_throughput: list[str]
    answer: Callable[[str, str], str]
    clock: Any
    _new: Callable[..., EmulatedJob]
    _find: Callable[..., EmulatedJob]
    _moto: Callable[[str], Any]

    @staticmethod
    def _iso(epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, tz=UTC)

    # -- Custom Model Import (emulated) -------------------------------------------------------
    def _bedrock_CreateModelImportJob(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        name = params["jobName"]
        existing = self.jobs.get(("import", name))
        if existing is not None:
            if existing.request.get("clientRequestToken") == params.get("clientRequestToken"):
                return {"jobArn": existing.arn}
            raise client_error(
                "ConflictException", f"import job {name} already exists", "CreateModelImportJob"
            )
        for key in ("roleArn", "importedModelName", "modelDataSource"):
            if key not in params:
                raise client_error(
                    "ValidationException", f"{key} is required", "CreateModelImportJob"
                )
        arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/{uuid.uuid4().hex[:12]}"
        job = self._new("import", name, arn, params)
        job.extra["modelArn"] = (
            f"arn:aws:bedrock:{REGION}:{ACCOUNT}:imported-model/{uuid.uuid4().hex[:12]}"
        )
        return {"jobArn": arn}

    def _bedrock_GetModelImportJob(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        job = self._find("import", params["jobIdentifier"], "GetModelImportJob")
        status = job.status(self.clock.now(), "InProgress", "Completed")
        response = {
            "jobArn": job.arn,
            "jobName": job.name,
            "status": status,
            "importedModelName": job.request["importedModelName"],
            "creationTime": self._iso(job.created),
            "roleArn": job.request["roleArn"],
            "modelDataSource": job.request["modelDataSource"],
        }
        if status == "Completed":
            response["importedModelArn"] = job.extra["modelArn"]
        if status == "Failed":
            response["failureMessage"] = job.script.message
        return response

    # -- Provisioned throughput (emulated) ----------------------------------------------------
    def _bedrock_CreateProvisionedModelThroughput(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        name = params["provisionedModelName"]
        existing = self.jobs.get(("throughput", name))
        if existing is not None:
            if existing.request.get("clientRequestToken") == params.get("clientRequestToken"):
                return {"provisionedModelArn": existing.arn}
            raise client_error(
                "ConflictException", f"{name} already exists", "CreateProvisionedModelThroughput"
            )
        model = params["modelId"]
        bedrock = self._moto("bedrock")
        # moto names a job's output model "<model>-<job>" but stores it as "<model>": both count.
        known = {m.model_arn for m in bedrock.custom_models.values()}
        known |= {j.output_model_arn for j in bedrock.model_customization_jobs.values()}
        if model not in known:
            raise client_error(
                "ResourceNotFoundException",
                f"model {model} not found",
                "CreateProvisionedModelThroughput",
                404,
            )
        arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/{uuid.uuid4().hex[:12]}"
        self._new("throughput", name, arn, params)
        return {"provisionedModelArn": arn}

    def _bedrock_GetProvisionedModelThroughput(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        job = self._find(
            "throughput", params["provisionedModelId"], "GetProvisionedModelThroughput"
        )
        status = job.status(self.clock.now(), "Creating", "InService")
        response = {
            "provisionedModelArn": job.arn,
            "provisionedModelName": job.name,
            "status": status,
            "modelArn": job.request["modelId"],
            "modelUnits": job.request["modelUnits"],
            "creationTime": self._iso(job.created),
        }
        if status == "Failed":
            response["failureMessage"] = job.script.message
        return response

    def _bedrock_DeleteProvisionedModelThroughput(
        self, params: dict[str, Any], moto: Callable[..., Any]
    ) -> Any:
        job = self._find(
            "throughput", params["provisionedModelId"], "DeleteProvisionedModelThroughput"
        )
        del self.jobs[("throughput", job.name)]
        self.deleted_throughput.append(job.arn)
        return {}

    # -- bedrock-runtime (emulated answers) ---------------------------------------------------
    def _bedrock_runtime_Converse(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        # The question is the last turn's text; image blocks (bytes) may come before it.
        blocks = params["messages"][-1]["content"]
        question = "\n".join(block["text"] for block in blocks if "text" in block)
        text = self.answer(params["modelId"], question)
        tokens = max(1, len(text.split()))
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": tokens, "totalTokens": 10 + tokens},
            "metrics": {"latencyMs": 5},
        }

    def _bedrock_runtime_InvokeModel(self, params: dict[str, Any], moto: Callable[..., Any]) -> Any:
        body = json.loads(params["body"])
        question = (
            body.get("messages", [{}])[-1].get("content", "")
            if "messages" in body
            else body.get("prompt", "")
        )
        text = self.answer(params["modelId"], str(question))
        data = json.dumps(
            {"choices": [{"message": {"content": text}, "finish_reason": "stop"}]}
        ).encode()
        return {
            "body": StreamingBody(io.BytesIO(data), len(data)),
            "contentType": "application/json",
        }
