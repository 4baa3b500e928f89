"""The run document: cross-field rules name the field, names derive deterministically, and the
API Gateway schema accepts and rejects the same documents as the model."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest

from bedrock_pipeline.run_spec import (
    RunSpecError,
    api_gateway_schema,
    execution_name,
    inference_model_id,
    names_for,
    parse_run_spec,
)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def doc(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "runName": "run-1",
        "baseModelId": HAIKU,
        "trainingDataUri": "s3://data-bucket/train.jsonl",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


CONTAINER = {"baseWeightsUri": "s3://data-bucket/weights/"}
LOGS = {
    "invocationLogSource": {"s3Uri": "s3://log-bucket/AWSLogs/"},
    "usePromptResponse": True,
    "requestMetadataFilters": {"orAll": [{"equals": {"project": "faq"}}, {"notEquals": {"a": ""}}]},
}
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def logs(**changes: Any) -> dict[str, Any]:
    return doc(
        customizationType="DISTILLATION",
        teacherModelId=SONNET,
        trainingDataUri=None,
        invocationLogsConfig={**LOGS, **changes},
    )


EVALUATION = {"testDataUri": "s3://data-bucket/test.jsonl"}

INVALID = [
    (doc(customizationType="DISTILLATION"), "teacherModelId"),
    (doc(teacherModelId="anthropic.claude-3-5-sonnet-20240620-v1:0"), "teacherModelId"),
    (doc(maxResponseLength=100), "maxResponseLength"),
    (
        doc(
            customizationType="DISTILLATION",
            teacherModelId="t",
            trainer="container",
            container=CONTAINER,
        ),
        "trainer",
    ),
    (doc(trainer="import", trainingDataUri=None), "modelDataUri"),
    (doc(trainer="import", modelDataUri="s3://data-bucket/w/"), "trainingDataUri"),
    (doc(trainingDataUri=None), "trainingDataUri"),
    (doc(modelDataUri="s3://data-bucket/w/"), "modelDataUri"),
    (doc(trainer="container"), "container"),
    (
        doc(trainer="container", container=CONTAINER, hyperParameters={"epochCount": 2}),
        "hyperParameters",
    ),
    (doc(container=CONTAINER), "container"),
    (doc(evaluation=EVALUATION), "provisionedThroughput"),
    (
        doc(
            trainer="import",
            trainingDataUri=None,
            modelDataUri="s3://data-bucket/w/",
            provisionedThroughput={"modelUnits": 1},
        ),
        "provisionedThroughput",
    ),
    (doc(tags={"aws:owner": "x"}), "tags.aws:owner"),
    (doc(trainer="container", container={**CONTAINER, "maxWaitS": 4000}), "container.maxWaitS"),
    (
        doc(trainer="container", container={**CONTAINER, "useSpot": True, "maxWaitS": 600}),
        "container.maxWaitS",
    ),
    (doc(runName="has space"), "runName"),
    (doc(trainingDataUri="https://example.com/x"), "trainingDataUri"),
    (doc(unknown=1), "unknown"),
    (doc(provisionedThroughput={"modelUnits": 0}), "provisionedThroughput.modelUnits"),
    # Distillation from invocation logs
    (doc(invocationLogsConfig=LOGS), "invocationLogsConfig"),
    ({**logs(), "trainingDataUri": "s3://data-bucket/p.jsonl"}, "trainingDataUri"),
    (logs(requestMetadataFilters={}), "invocationLogsConfig.requestMetadataFilters"),
    (
        logs(requestMetadataFilters={"equals": {"a": "1"}, "notEquals": {"b": "2"}}),
        "invocationLogsConfig.requestMetadataFilters",
    ),
    (
        logs(requestMetadataFilters={"equals": {"a": "1", "b": "2"}}),
        "invocationLogsConfig.requestMetadataFilters.equals",
    ),
    (
        logs(requestMetadataFilters={"andAll": [{"equals": {"a": "1"}}] * 17}),
        "invocationLogsConfig.requestMetadataFilters.andAll",
    ),
    (
        logs(invocationLogSource={"s3Uri": "s3://log-bucket/a b/"}),
        "invocationLogsConfig.invocationLogSource.s3Uri",
    ),
    (
        doc(
            provisionedThroughput={"modelUnits": 1},
            evaluation={**EVALUATION, "decisionMetric": "bleu"},
        ),
        "evaluation.decisionMetric",
    ),
]


@pytest.mark.parametrize(("document", "field"), INVALID)
def test_invalid_documents_name_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(RunSpecError) as info:
        parse_run_spec(document)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


VALID = [
    doc(),
    doc(customizationType="CONTINUED_PRE_TRAINING", validationDataUri="s3://data-bucket/v.jsonl"),
    doc(
        customizationType="DISTILLATION", teacherModelId="anthropic.claude-3-5-sonnet-20240620-v1:0"
    ),
    doc(trainer="container", container={**CONTAINER, "useSpot": True, "maxWaitS": 90000}),
    doc(baseModelId="container/llama3-vision", trainer="container", container=CONTAINER),
    doc(trainer="import", trainingDataUri=None, modelDataUri="s3://data-bucket/w/"),
    doc(provisionedThroughput={"modelUnits": 1}, evaluation=EVALUATION),
    logs(),
    logs(usePromptResponse=False, requestMetadataFilters={"equals": {"project": "faq"}}),
    doc(
        provisionedThroughput={"modelUnits": 1},
        evaluation={**EVALUATION, "decisionMetric": "numericMatch"},
    ),
]


@pytest.mark.parametrize("document", VALID)
def test_valid_documents_normalize_to_a_fixed_point(document: dict[str, Any]) -> None:
    wf = parse_run_spec(document).workflow_input()
    assert set(document) <= set(wf)
    # Spelled-out defaults give the same execution input (Step Functions compares strings).
    assert parse_run_spec(wf).workflow_input() == wf


def test_api_gateway_schema_agrees_with_the_model() -> None:
    schema = api_gateway_schema()
    text = repr(schema)
    assert "$ref" not in text and "'null'" not in text and "$defs" not in text
    validator = jsonschema.Draft4Validator(schema)
    for document in VALID:
        validator.validate(document)
    # Structural errors are the schema's to catch; cross-field rules need the model.
    structural = [
        doc(runName="has space"),
        doc(trainingDataUri="https://example.com/x"),
        doc(unknown=1),
        doc(provisionedThroughput={"modelUnits": 0}),
        doc(trainer="container", container={"instanceType": "p4d"}),
        doc(hyperParameters={"epochCount": [1]}),
    ]
    for document in structural:
        assert not validator.is_valid(document), document


@pytest.mark.parametrize(
    "run_name", ["run-1", "Run_2024.01", "a" * 80, "x.y", "x-y", "9" * 63 + ".z"]
)
@pytest.mark.parametrize("prefix", ["", "bcp-dev", "bcp-abcdefghijklmnop"])
def test_derived_names_are_valid_and_deterministic(run_name: str, prefix: str) -> None:
    names = names_for(run_name, prefix)
    assert names == names_for(run_name, prefix)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", names["execution"])
    for kind in ("customization", "training", "import", "throughput"):
        entry = names[kind]
        assert entry["jobName"].startswith(prefix)
        # SageMaker training job names are the strictest of the job-name patterns.
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", entry["jobName"]), entry
        assert (
            re.fullmatch(r"([0-9a-zA-Z][_-]?)+", entry["modelName"])
            and len(entry["modelName"]) <= 63
        )
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,256}", entry["token"])


def test_distinct_run_names_never_share_names() -> None:
    # "x.y" and "x-y" sanitize to the same text: the digest keeps them apart.
    assert names_for("x.y")["slug"] != names_for("x-y")["slug"]
    assert execution_name("x.y") != execution_name("x-y")
    assert (
        names_for("run-1")["customization"]["token"] != names_for("run-2")["customization"]["token"]
    )
    # Two stages in one account running the same runName must not share Bedrock's idempotency
    # token, or the second stage's job would be taken for a retry of the first.
    assert (
        names_for("run-1", "bcp-dev")["customization"]["token"]
        != names_for("run-1", "bcp-prod")["customization"]["token"]
    )


def test_inference_model_id_drops_the_context_suffix() -> None:
    assert inference_model_id(HAIKU) == "anthropic.claude-3-haiku-20240307-v1:0"
    assert inference_model_id("meta.llama3-2-1b-instruct-v1:0") == "meta.llama3-2-1b-instruct-v1:0"
