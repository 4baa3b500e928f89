"""Run documents and datasets the workflow tests share."""

from __future__ import annotations

from typing import Any

from tests.shards import tiny_llama_files
from tests.support.workflow import Workflow

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TITAN = "amazon.titan-text-express-v1:0:8k"
PREFIX = "bcp-dev"  # the dev stage's prefix: job names start with it


def sums(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"What is {i} plus {i + 1}?", str(2 * i + 1)) for i in range(start, start + n)]


def messages(n: int) -> list[dict[str, Any]]:
    return [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in sums(n)
    ]


def prompt_completion(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"prompt": q, "completion": a} for q, a in sums(n, start)]


def bedrock_run(workflow: Workflow, name: str, **extra: Any) -> dict[str, Any]:
    uri = workflow.put_jsonl(f"{name}/train.jsonl", messages(40))
    return {"runName": name, "baseModelId": HAIKU, "trainingDataUri": uri, **extra}


def upload_weights(workflow: Workflow, prefix: str, files: dict[str, bytes]) -> str:
    for name, body in files.items():
        workflow.s3.put_object(Bucket=workflow.training_bucket, Key=f"{prefix}{name}", Body=body)
    return f"s3://{workflow.training_bucket}/{prefix}"


LLAMA_CONFIG = tiny_llama_files()["config.json"]
WEIGHTS = {
    **tiny_llama_files(),
    "tokenizer_config.json": b"{}",
    "tokenizer.json": b"{}",
}


def created(workflow: Workflow) -> list[str]:
    """The create calls the run made, in order (only calls that reached a service)."""
    wanted = {
        "CreateModelCustomizationJob",
        "CreateTrainingJob",
        "CreateModelImportJob",
        "CreateProvisionedModelThroughput",
    }
    return [o for s, o, p in workflow.emulator.calls if o in wanted]
