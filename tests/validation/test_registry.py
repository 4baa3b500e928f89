"""The model registry: lookups, typed errors and the facts other components rely on."""

from __future__ import annotations

import pickle

import pytest

from bedrock_pipeline.formats import DatasetFormat
from bedrock_pipeline.registry import (
    IMPORT,
    IMPORT_ARCHITECTURES,
    MODELS,
    CustomizationType,
    Trainer,
    UnknownModelError,
    distillation_teachers,
    get_model,
)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def test_plain_id_is_an_alias_of_the_customization_id() -> None:
    assert get_model("anthropic.claude-3-haiku-20240307-v1:0").model_id == HAIKU
    assert get_model(HAIKU) is get_model("anthropic.claude-3-haiku-20240307-v1:0")


def test_unknown_model_lists_allowed_ids_and_pickles() -> None:
    with pytest.raises(UnknownModelError) as err:
        get_model("anthropic.claude-v2")
    assert HAIKU in str(err.value) and "container/llama3" in str(err.value)
    again = pickle.loads(pickle.dumps(err.value))
    assert again.model_id == "anthropic.claude-v2" and str(again) == str(err.value)


@pytest.mark.parametrize("spec", MODELS.values(), ids=list(MODELS))
def test_every_row_is_coherent(spec: object) -> None:
    from bedrock_pipeline.model_spec import ModelSpec

    assert isinstance(spec, ModelSpec)
    assert spec.customizations and spec.hyperparameters
    keys = [h.key for h in spec.hyperparameters]
    assert len(keys) == len(set(keys))
    for h in spec.hyperparameters:
        assert h.min <= h.default <= h.max, h
    for limits in spec.customizations.values():
        assert limits.formats and limits.source
        if limits.max_train_records and limits.min_train_records:
            assert limits.min_train_records <= limits.max_train_records
    # Only our container's models leave Bedrock, through Custom Model Import.
    assert spec.import_eligible == (spec.trainer is Trainer.CONTAINER)
    if spec.import_architecture:
        assert spec.import_architecture in IMPORT_ARCHITECTURES


def test_documented_facts() -> None:
    haiku = get_model(HAIKU)
    ft = haiku.limits(CustomizationType.FINE_TUNING)
    assert ft is not None and ft.formats == (DatasetFormat.MESSAGES,)
    assert (ft.min_train_records, ft.max_train_records, ft.max_validation_records) == (
        32,
        10_000,
        1_000,
    )
    assert ft.max_tokens_per_record == 32_000
    assert haiku.hyperparameter("batchSize") is not None
    llama = get_model("meta.llama3-1-8b-instruct-v1:0:128k")
    assert llama.hyperparameter("learningRateWarmupSteps") is None  # Llama has none
    llama_ft = llama.limits(CustomizationType.FINE_TUNING)
    assert llama_ft is not None and llama_ft.formats == (DatasetFormat.PROMPT_COMPLETION,)
    llama_90b = get_model("meta.llama3-2-90b-instruct-v1:0:128k").limits(
        CustomizationType.FINE_TUNING
    )
    assert llama_90b is not None and llama_90b.max_tokens_per_record == 10_000
    premier = get_model("amazon.titan-text-premier-v1:0:32k")
    assert premier.limits(CustomizationType.CONTINUED_PRE_TRAINING) is None
    express = get_model("amazon.titan-text-express-v1:0:8k")
    cpt = express.limits(CustomizationType.CONTINUED_PRE_TRAINING)
    assert cpt is not None and cpt.max_train_bytes == 10 * 1024**3


def test_distillation_pairs() -> None:
    assert distillation_teachers(HAIKU) == (
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
    )
    assert "meta.llama3-1-405b-instruct-v1:0" in distillation_teachers(
        "meta.llama3-3-70b-instruct-v1:0"
    )
    assert "meta.llama3-1-405b-instruct-v1:0" not in distillation_teachers(
        "meta.llama3-2-3b-instruct-v1:0:128k"
    )
    assert distillation_teachers("amazon.titan-text-express-v1:0:8k") == ()
    # Every student of a pair can actually be distilled into.
    for spec in MODELS.values():
        if distillation_teachers(spec.model_id):
            assert spec.limits(CustomizationType.DISTILLATION) is not None, spec.model_id


def test_import_requirements() -> None:
    assert {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"} <= IMPORT_ARCHITECTURES
    assert "us-west-2" in IMPORT.regions and "eu-west-1" not in IMPORT.regions
    assert IMPORT.max_context_tokens == 131_072  # Llama 3.1-3.3 configs import at 131072
