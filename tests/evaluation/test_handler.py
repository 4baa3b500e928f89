"""The Lambda adapter: event validation and routing of the three actions, over moto S3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lambdas.evaluate import handler as handler_module
from tests.support.evaluation import BUCKET, DATA, TEST_RECORDS, FakeRuntime, jsonl, make_config


@dataclass
class _Context:
    function_name: str = "evaluate"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:evaluate"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _context() -> LambdaContext:
    # Powertools' LambdaContext is the runtime's object; the handler reads only these fields.
    return cast(LambdaContext, _Context())


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, s3: Any) -> FakeRuntime:
    fake = FakeRuntime()
    monkeypatch.setenv("ARTIFACTS_BUCKET", BUCKET)
    monkeypatch.setattr(handler_module, "_s3", lambda: s3)
    monkeypatch.setattr(handler_module, "_runtime", lambda timeout_s: fake)
    return fake


def test_plan_run_report_through_the_handler(runtime: FakeRuntime, s3: Any) -> None:
    s3.put_object(Bucket=DATA, Key="train.jsonl", Body=jsonl(TEST_RECORDS[3:] * 2))
    config = make_config(fewShotCount=1, fewShotUri=f"s3://{DATA}/train.jsonl").model_dump(
        by_alias=True
    )
    plan = handler_module.handler({"action": "plan", "config": config}, _context())
    for batch in plan["batches"]:
        out = handler_module.handler(
            {"action": "run_batch", "config": config, "batch": batch}, _context()
        )
        assert out["complete"] is True
    result = handler_module.handler({"action": "report", "config": config}, _context())
    assert result["decision"] == "promoted"
    assert result["metrics"]["f1"]["custom"] == 1.0
    # the few-shot example (first record of train.jsonl) precedes every question
    assert all(
        r["messages"][0]["content"][0]["text"] == "Colour of the sky?" for r in runtime.requests
    )


def test_invalid_events_name_the_field(runtime: FakeRuntime) -> None:
    config = make_config().model_dump(by_alias=True)
    with pytest.raises(ValidationError, match="batch"):
        handler_module.handler({"action": "run_batch", "config": config}, _context())
    with pytest.raises(ValidationError, match="action"):
        handler_module.handler({"action": "evaluate", "config": config}, _context())
    with pytest.raises(ValidationError, match="fewShotUri"):
        make_config(fewShotCount=2)
    with pytest.raises(ValidationError, match="must be unique and not custom or base: base"):
        make_config(comparisonModels=[{"name": "base", "modelId": "x"}])
    with pytest.raises(ValidationError, match="maxTokens"):
        make_config(inference={"maxTokens": 0})
    with pytest.raises(ValidationError, match="stop 2 must be greater than start 2"):
        handler_module.handler(
            {"action": "run_batch", "config": config, "batch": {"batch": 0, "start": 2, "stop": 2}},
            _context(),
        )
