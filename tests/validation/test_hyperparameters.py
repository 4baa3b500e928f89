"""Hyperparameters: defaults, parsing, ranges, unknown keys, Bedrock's string map."""

from __future__ import annotations

import pytest

from bedrock_pipeline.hyperparameters import resolve_hyperparameters
from bedrock_pipeline.registry import get_model

HAIKU = get_model("anthropic.claude-3-haiku-20240307-v1:0:200k")
LLAMA = get_model("meta.llama3-1-8b-instruct-v1:0:128k")


def test_defaults_as_strings() -> None:
    resolved, issues = resolve_hyperparameters(LLAMA, None)
    assert resolved == {"epochCount": "5", "batchSize": "1", "learningRate": "0.0001"}
    assert issues == []


def test_numbers_and_strings_are_normalised() -> None:
    resolved, issues = resolve_hyperparameters(
        HAIKU, {"epochCount": "3", "batchSize": 16.0, "learningRateMultiplier": "0.5"}
    )
    assert issues == []
    assert resolved["epochCount"] == "3" and resolved["batchSize"] == "16"
    assert resolved["learningRateMultiplier"] == "0.5"
    resolved, _ = resolve_hyperparameters(LLAMA, {"learningRate": 5e-6})
    assert resolved["learningRate"] == "0.000005"  # never exponent notation


@pytest.mark.parametrize(
    ("given", "code", "text"),
    [
        ({"epochs": 3}, "UNKNOWN_HYPERPARAMETER", "allowed: epochCount, batchSize, learningRate"),
        ({"learningRateWarmupSteps": 5}, "UNKNOWN_HYPERPARAMETER", "'learningRateWarmupSteps'"),
        ({"epochCount": 11}, "HYPERPARAMETER_RANGE", "allowed: 1 to 10 (integer), default 5"),
        ({"epochCount": 0}, "HYPERPARAMETER_RANGE", "epochCount=0"),
        ({"batchSize": 2}, "HYPERPARAMETER_RANGE", "allowed: only 1"),
        ({"learningRate": 1}, "HYPERPARAMETER_RANGE", "allowed: 0.000005 to 0.1 (decimal)"),
        ({"epochCount": 2.5}, "HYPERPARAMETER_TYPE", "must be an integer"),
        ({"epochCount": "two"}, "HYPERPARAMETER_TYPE", "must be an integer"),
        ({"learningRate": "fast"}, "HYPERPARAMETER_TYPE", "must be a number"),
        ({"learningRate": "nan"}, "HYPERPARAMETER_TYPE", "finite"),
        ({"epochCount": True}, "HYPERPARAMETER_TYPE", "got bool"),
        ({"epochCount": [1]}, "HYPERPARAMETER_TYPE", "got list"),
    ],
)
def test_errors_name_key_value_and_allowed(given: dict[str, object], code: str, text: str) -> None:
    resolved, issues = resolve_hyperparameters(LLAMA, given)
    assert [i.code for i in issues] == [code]
    assert text in issues[0].message
    assert set(resolved) == {"epochCount", "batchSize", "learningRate"}  # still complete


def test_every_problem_is_reported() -> None:
    _, issues = resolve_hyperparameters(HAIKU, {"a": 1, "b": 2, "epochCount": 99, "batchSize": "x"})
    assert sorted(i.key for i in issues) == ["a", "b", "batchSize", "epochCount"]


def test_container_knobs_come_from_the_container_config_model() -> None:
    """Every knob the container accepts validates here, non-numeric ones included; what it
    rejects is rejected here with the same allowed range, before any instance is paid for."""
    from bedrock_pipeline import training_contract
    from bedrock_pipeline.hyperparameters import resolve_hyperparameters
    from bedrock_pipeline.registry import get_model

    model = get_model("container/llama3")
    given = {"method": "full", "packing": False, "loraTargetModules": ["q_proj", "v_proj"],
             "epochCount": "2", "learningRate": 1e-4}  # fmt: skip
    resolved, issues = resolve_hyperparameters(model, given)
    assert issues == []
    assert resolved["method"] == "full" and resolved["packing"] == "false"
    assert resolved["loraTargetModules"] == "q_proj,v_proj" and resolved["epochCount"] == "2"
    parsed = training_contract.parse_hyperparameters(resolved)  # what the container will read
    assert (parsed.method, parsed.packing, parsed.epochCount) == ("full", False, 2)

    _, issues = resolve_hyperparameters(model, {"gradientAccumulationSteps": 4, "method": "qlora"})
    assert [(i.key, i.code) for i in issues] == [
        ("gradientAccumulationSteps", "UNKNOWN_HYPERPARAMETER"),
        ("method", "HYPERPARAMETER_RANGE"),
    ]
    assert "'lora', 'full'" in issues[1].message
