"""Requests, response parsing, the Converse -> InvokeModel fallback, deadlines, few-shot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bedrock_pipeline.aws.retry import Backoff
from bedrock_pipeline.formats import Turn
from lambdas.evaluate.config import EvaluatedModel, Inference
from lambdas.evaluate.invoke import Invoker, build_prompt, parse_invoke
from tests.support.evaluation import FakeRuntime, client_error

UNSUPPORTED = client_error(
    "ValidationException",
    "This action doesn't support the model that you provided. Try again with a supported text "
    "or chat model.",
)
PROMPT = build_prompt("Be brief.", (Turn("user", "Capital of France?"),))
CUSTOM = EvaluatedModel(
    name="custom", model_id="arn:aws:bedrock:::imported-model/custom", api="auto"
)


def test_auto_falls_back_to_invoke_model_once_and_remembers() -> None:
    runtime = FakeRuntime(lambda q, m: UNSUPPORTED)
    invoker = Invoker(runtime, Inference(max_tokens=64), timeout_s=10, sleep=lambda s: None)
    first = invoker.answer(CUSTOM, PROMPT)
    second = invoker.answer(CUSTOM, PROMPT)
    assert (first.output, first.api, first.output_tokens) == ("Paris", "invoke", 3)
    assert second.api == "invoke"
    assert [op for op, _, _ in runtime.calls] == ["converse", "invoke", "invoke"]
    body = json.loads(runtime.requests[1]["body"])
    assert body == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "max_tokens": 64,
        "temperature": 0.0,
    }


def test_converse_only_model_keeps_its_validation_error() -> None:
    runtime = FakeRuntime(lambda q, m: UNSUPPORTED)
    invoker = Invoker(runtime, Inference(), timeout_s=10)
    answer = invoker.answer(EvaluatedModel(name="base", model_id="m", api="converse"), PROMPT)
    assert answer.output is None and answer.error_code == "ValidationException"
    assert len(runtime.calls) == 1


def test_other_validation_errors_do_not_trigger_the_fallback() -> None:
    runtime = FakeRuntime(lambda q, m: client_error("ValidationException", "Input is too long"))
    answer = Invoker(runtime, Inference(), timeout_s=10).answer(CUSTOM, PROMPT)
    assert answer.error_message == "Input is too long"
    assert [op for op, _, _ in runtime.calls] == ["converse"]


def test_retries_stop_at_the_record_deadline() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    runtime = FakeRuntime(lambda q, m: client_error("ThrottlingException"))
    invoker = Invoker(
        runtime, Inference(), timeout_s=5, backoff=Backoff(attempts=50, base_s=2, cap_s=2),
        clock=lambda: now[0], sleep=sleep,
    )  # fmt: skip
    answer = invoker.answer(CUSTOM, PROMPT)
    assert answer.error_code == "Timeout"
    assert now[0] <= 5 and 1 < len(runtime.calls) < 50


def test_few_shot_examples_precede_the_question() -> None:
    shot = (Turn("user", "Capital of Italy?"), Turn("assistant", "Rome"))
    prompt = build_prompt(None, (Turn("user", "Capital of France?"),), [shot])
    runtime = FakeRuntime()
    Invoker(runtime, Inference(), timeout_s=10).answer(CUSTOM, prompt)
    request = runtime.requests[0]
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]
    assert "system" not in request


@pytest.mark.parametrize(
    ("payload", "text", "tokens"),
    [
        ({"choices": [{"message": {"content": "Paris"}}], "usage": {"completion_tokens": 2}},
         "Paris", 2),
        ({"choices": [{"text": "Paris", "finish_reason": "stop"}]}, "Paris", None),
        ({"generation": "Paris", "generation_token_count": 1, "stop_reason": "stop"}, "Paris", 1),
    ],
)  # fmt: skip
def test_parse_invoke_bodies(payload: dict[str, Any], text: str, tokens: int | None) -> None:
    answer = parse_invoke(json.dumps(payload).encode(), 12.0)
    assert (answer.output, answer.output_tokens, answer.latency_ms) == (text, tokens, 12.0)


def test_unrecognised_invoke_body_becomes_a_record_error() -> None:
    class Weird(FakeRuntime):
        def invoke_model(self, **request: Any) -> dict[str, Any]:
            import io

            return {"body": io.BytesIO(b'{"unexpected": 1}')}

    spec = EvaluatedModel(name="custom", model_id="m", api="invoke")
    answer = Invoker(Weird(), Inference(), timeout_s=10).answer(spec, PROMPT)
    assert answer.error_code == "ValueError" and "unexpected" in (answer.error_message or "")
