"""Helpers of the evaluation step tests (data, fakes, typed handles); the fixtures that use
them live in tests/evaluation/conftest.py."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from lambdas.evaluate.config import EvaluationConfig

BUCKET = "artifacts"


DATA = "data-bucket"


# Five records in the three conversational formats; the answers a good model gives.
TEST_RECORDS: list[dict[str, Any]] = [
    {"prompt": "Capital of France?", "completion": "Paris"},
    {"messages": [{"role": "user", "content": "Total revenue?"},
                  {"role": "assistant", "content": "1,234"}]},
    {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "Be brief."}],
     "messages": [{"role": "user", "content": [{"text": "Tallest tower in Paris?"}]},
                  {"role": "assistant", "content": [{"text": "the Eiffel Tower"}]}]},
    {"prompt": "Colour of the sky?", "completion": "blue"},
    {"prompt": "Growth in 2020?", "completion": "12.5%"},
]  # fmt: skip


ANSWERS = {"Capital": "Paris", "Total": "1234", "Tallest": "Eiffel Tower", "Colour": "blue",
           "Growth": "12.5", "What shape": "a square"}  # fmt: skip


def png(width: int = 8, height: int = 8, colour: tuple[int, int, int] = (200, 0, 0)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def image_record(
    *uris: str, question: str = "What shape is this?", fmt: str = "png"
) -> dict[str, Any]:
    """A Converse test record: the images, then the question, in one user turn."""
    images = [{"image": {"format": fmt, "source": {"s3Location": {"uri": u}}}} for u in uris]
    return {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "Look closely."}],
            "messages": [{"role": "user", "content": [*images, {"text": question}]},
                         {"role": "assistant", "content": [{"text": "a square"}]}]}  # fmt: skip


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def client_error(code: str, message: str = "boom", op: str = "Converse") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)


class FakeRuntime:
    """bedrock-runtime stand-in: answers by question; ``fail(question, model) -> error|None``."""

    def __init__(self, fail: Callable[[str, str], ClientError | None] | None = None) -> None:
        self.fail = fail or (lambda q, m: None)
        self.calls: list[tuple[str, str, str]] = []  # (operation, modelId, question)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _record(self, op: str, model: str, question: str, request: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((op, model, question))
            self.requests.append(request)

    def _reply(self, model: str, question: str) -> str:
        good = next(a for k, a in ANSWERS.items() if question.startswith(k))
        return good if "custom" in model else f"I think the answer is {good}, as far as I know"

    def converse(self, **request: Any) -> dict[str, Any]:
        blocks = request["messages"][-1]["content"]
        model, question = request["modelId"], "\n".join(b["text"] for b in blocks if "text" in b)
        self._record("converse", model, question, request)
        error = self.fail(question, model)
        if error is not None:
            raise error
        text = self._reply(model, question)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": len(text.split()), "totalTokens": 0},
            "metrics": {"latencyMs": 100 if "custom" in model else 300},
        }

    def invoke_model(self, **request: Any) -> dict[str, Any]:
        body = json.loads(request["body"])
        model, question = request["modelId"], body["messages"][-1]["content"]
        self._record("invoke", model, question, request)
        text = self._reply(model, question)
        payload = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                   "usage": {"completion_tokens": 3, "prompt_tokens": 9}}  # fmt: skip
        return {"body": io.BytesIO(json.dumps(payload).encode())}


def make_config(**overrides: Any) -> EvaluationConfig:
    raw: dict[str, Any] = {
        "runId": "run-1",
        "testDataUri": f"s3://{DATA}/test.jsonl",
        "baseModelId": "meta.llama3-2-1b-instruct-v1:0",
        "customModelId": "arn:aws:bedrock:us-west-2:111122223333:imported-model/custom1",
        "batchSize": 2,
        "concurrency": 2,
        "recordTimeoutS": 30,
    }
    raw.update(overrides)
    return EvaluationConfig.model_validate(raw)
