"""The evaluation's base model (``evaluation.baseModelId``): the Bedrock model the custom model
is compared against. Required where the run's baseModelId is not a Bedrock model (container and
import runs), optional for Bedrock runs, and what ``prepare`` hands the evaluation step."""

from __future__ import annotations

from typing import Any

import pytest

from bedrock_pipeline.run_spec import RunSpecError, api_gateway_schema, parse_run_spec
from tests.workflow.test_jobs import HAIKU, prepared

TEST = "s3://data-bkt/test.jsonl"
PROFILE = "us.meta.llama3-2-1b-instruct-v1:0"
ACCOUNT_ARN = "arn:aws:bedrock:us-west-2:111122223333"


def container(**evaluation: Any) -> dict[str, Any]:
    return {
        "runName": "c1",
        "baseModelId": "container/llama3",
        "trainer": "container",
        "trainingDataUri": "s3://data-bkt/t.jsonl",
        "container": {"baseWeightsUri": "s3://data-bkt/w/"},
        "evaluation": {"testDataUri": TEST, **evaluation},
    }


def imported(**evaluation: Any) -> dict[str, Any]:
    return {
        "runName": "i1",
        "baseModelId": "container/llama3",
        "trainer": "import",
        "modelDataUri": "s3://data-bkt/w/",
        "evaluation": {"testDataUri": TEST, **evaluation},
    }


@pytest.mark.parametrize("document", [container(), imported()], ids=["container", "import"])
def test_required_when_the_run_base_is_not_a_bedrock_model(document: dict[str, Any]) -> None:
    with pytest.raises(RunSpecError) as info:
        parse_run_spec(document)
    assert info.value.field == "evaluation.baseModelId"
    message = info.value.message
    assert f"required when trainer={document['trainer']}" in message
    assert "'container/llama3' names the architecture of the weights, not a Bedrock model" in (
        message
    )
    assert "the Bedrock model the weights started from" in message


@pytest.mark.parametrize(
    "model_id",
    [
        "meta.llama3-1-8b-instruct-v1:0",
        PROFILE,
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-1-8b-instruct-v1:0",
        f"{ACCOUNT_ARN}:inference-profile/{PROFILE}",
        f"{ACCOUNT_ARN}:application-inference-profile/a1b2c3d4e5f6",
        f"{ACCOUNT_ARN}:provisioned-model/a1b2c3d4e5f6",
        f"{ACCOUNT_ARN}:imported-model/a1b2c3d4e5f6",
        f"{ACCOUNT_ARN}:custom-model-deployment/a1b2c3d4e5f6",
        "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/meta.llama3-8b-instruct-v1:0",
    ],
)
def test_every_form_converse_takes_is_accepted(model_id: str) -> None:
    for document in (container(baseModelId=model_id), imported(baseModelId=model_id)):
        spec = parse_run_spec(document)
        assert spec.evaluation is not None and spec.evaluation.base_model_id == model_id
        assert spec.workflow_input()["evaluation"]["baseModelId"] == model_id


@pytest.mark.parametrize(
    "model_id",
    [
        "container/llama3",  # a registry architecture
        "llama3",  # no provider
        "Meta.Llama3-1-8b-instruct-v1:0",  # ids are lower case
        "s3://data-bkt/w/",
        # A Bedrock custom model is invoked through its throughput or deployment, not its ARN.
        f"{ACCOUNT_ARN}:custom-model/meta.llama3-2-1b-instruct-v1:0/a1b2c3d4e5f6",
        f"{ACCOUNT_ARN}:imported-model/short",
        "arn:aws:bedrock:us-west-2:1:provisioned-model/a1b2c3d4e5f6",  # not an account id
        "",
    ],
)
def test_what_bedrock_runtime_cannot_invoke_is_refused_with_the_allowed_forms(
    model_id: str,
) -> None:
    with pytest.raises(RunSpecError) as info:
        parse_run_spec(container(baseModelId=model_id))
    assert info.value.field == "evaluation.baseModelId"
    assert "is not a model Bedrock Runtime can invoke" in info.value.message
    assert "an inference profile id (us.meta.llama3-1-8b-instruct-v1:0)" in info.value.message


def test_a_customization_id_is_refused_with_its_on_demand_id() -> None:
    with pytest.raises(RunSpecError) as info:
        parse_run_spec(container(baseModelId="meta.llama3-2-1b-instruct-v1:0:128k"))
    assert info.value.field == "evaluation.baseModelId"
    assert "give its on-demand id 'meta.llama3-2-1b-instruct-v1:0'" in info.value.message


def test_the_api_schema_refuses_what_the_model_refuses() -> None:
    import jsonschema

    validator = jsonschema.Draft4Validator(api_gateway_schema())
    assert validator.is_valid(container(baseModelId=PROFILE))
    assert not validator.is_valid(container(baseModelId="container/llama3"))


def test_prepare_passes_the_documents_base_model_to_the_evaluation() -> None:
    state = prepared(
        baseModelId="container/llama3",
        trainer="container",
        trainingDataUri="s3://data-bkt/t.jsonl",
        container={"baseWeightsUri": "s3://data-bkt/w/"},
        evaluation={"testDataUri": TEST, "baseModelId": PROFILE},
    )
    assert state["requests"]["evaluation"]["baseModelId"] == PROFILE
    assert state["run"]["evaluation"]["baseModelId"] == PROFILE


def test_bedrock_runs_default_to_their_own_base_model_and_may_name_another() -> None:
    throughput = {"modelUnits": 1}
    default = prepared(provisionedThroughput=throughput, evaluation={"testDataUri": TEST})
    # The customization id's context suffix (:200k) is not an on-demand id.
    assert default["requests"]["evaluation"]["baseModelId"] == HAIKU.removesuffix(":200k")
    profile = "us.anthropic.claude-3-haiku-20240307-v1:0"
    chosen = prepared(
        provisionedThroughput=throughput, evaluation={"testDataUri": TEST, "baseModelId": profile}
    )
    assert chosen["requests"]["evaluation"]["baseModelId"] == profile


def test_the_stages_allowed_base_models_do_not_restrict_the_evaluations_base() -> None:
    # The stage allows only Haiku (test_jobs.SETTINGS): that list bounds what is customized.
    other = "meta.llama3-1-8b-instruct-v1:0"
    state = prepared(
        provisionedThroughput={"modelUnits": 1},
        evaluation={"testDataUri": TEST, "baseModelId": other},
    )
    assert state["requests"]["evaluation"]["baseModelId"] == other
