"""The gateway's request model (draft 4, generated from RunSpec) and the Lambda's pydantic check
agree: what the gateway lets through, the Lambda judges; a field-level error the Lambda would
name, the gateway already rejects. Only cross-field rules are the Lambda's alone."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft4Validator

from bedrock_pipeline.api_request import ApiFailure, run_spec
from bedrock_pipeline.run_spec import api_gateway_schema
from tests.support.api import bedrock_doc, container_doc, import_doc

VALIDATOR = Draft4Validator(api_gateway_schema())


def test_the_model_is_valid_draft_4():
    Draft4Validator.check_schema(api_gateway_schema())


@pytest.mark.parametrize("doc", [bedrock_doc("a"), import_doc("b"), container_doc("c")])
def test_valid_documents_pass_both(doc: dict[str, Any]):
    assert list(VALIDATOR.iter_errors(doc)) == []
    run_spec(doc)


FIELD_ERRORS = [
    ("runName", "has spaces"),
    ("runName", "x" * 81),
    ("baseModelId", ""),
    ("trainer", "gpu"),
    ("customizationType", "PRETRAINING"),
    ("trainingDataUri", "https://example.com/train.jsonl"),
    ("colour", "blue"),
    ("hyperParameters", "epochs=2"),
    ("container", {"baseWeightsUri": "s3://team-data/base/", "instanceCount": 0}),
    ("container", {"baseWeightsUri": "s3://team-data/base/", "gpus": 8}),
    ("provisionedThroughput", {"modelUnits": 0}),
]


@pytest.mark.parametrize(("field", "value"), FIELD_ERRORS)
def test_field_errors_are_rejected_by_both(field: str, value: Any):
    doc = {**container_doc("d"), field: value} if field == "container" else bedrock_doc("d")
    doc[field] = value
    assert list(VALIDATOR.iter_errors(doc)), f"the gateway model lets {field}={value!r} through"
    with pytest.raises(ApiFailure) as caught:
        run_spec(doc)
    assert any(p.field.split(".")[0] == field for p in caught.value.fields)


def test_missing_required_fields_are_rejected_by_both():
    doc = {"trainingDataUri": "s3://team-data/train.jsonl"}
    messages = " ".join(e.message for e in VALIDATOR.iter_errors(doc))
    assert "runName" in messages and "baseModelId" in messages
    with pytest.raises(ApiFailure) as caught:
        run_spec(doc)
    assert {p.field for p in caught.value.fields} == {"runName", "baseModelId"}
