"""The evaluation step's input: one configuration shared by its three actions.

The state machine keeps one ``EvaluationConfig`` object and passes it unchanged to ``plan``,
to every ``run_batch`` (with the batch the Map item names) and to ``report``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bedrock_pipeline.promotion import DecisionMetric

S3_URI = r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/\S.*$"
# Model names become S3 key segments and report headings: keep them plain.
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
RUN_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
RESERVED_NAMES = ("custom", "base")

Api = Literal["auto", "converse", "invoke"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ModelSpec(_Frozen):
    """A model to evaluate. ``api``: converse, invoke (InvokeModel with an OpenAI-style chat
    body, for imported architectures Converse does not serve, e.g. Qwen2.5), or auto (Converse,
    falling back to InvokeModel when Bedrock says the model does not support Converse)."""

    name: Annotated[str, Field(pattern=MODEL_NAME)]
    model_id: Annotated[str, Field(alias="modelId", min_length=1, max_length=2048)]
    api: Api = "converse"


class Inference(_Frozen):
    # Temperature 0 by default: an evaluation must be repeatable, not creative.
    max_tokens: Annotated[int, Field(alias="maxTokens", ge=1, le=8192)] = 512
    temperature: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    top_p: Annotated[float | None, Field(alias="topP", gt=0.0, le=1.0)] = None
    stop_sequences: Annotated[tuple[str, ...], Field(alias="stopSequences", max_length=4)] = ()


class EvaluationConfig(_Frozen):
    run_id: Annotated[str, Field(alias="runId", pattern=RUN_ID)]
    test_data_uri: Annotated[str, Field(alias="testDataUri", pattern=S3_URI)]
    base_model_id: Annotated[str, Field(alias="baseModelId", min_length=1, max_length=2048)]
    # Provisioned model ARN, imported model ARN or custom model (deployment) ARN.
    custom_model_id: Annotated[str, Field(alias="customModelId", min_length=1, max_length=2048)]
    custom_model_api: Annotated[Api, Field(alias="customModelApi")] = "auto"
    comparison_models: Annotated[tuple[ModelSpec, ...], Field(alias="comparisonModels")] = ()
    few_shot_count: Annotated[int, Field(alias="fewShotCount", ge=0, le=20)] = 0
    few_shot_uri: Annotated[str | None, Field(alias="fewShotUri", pattern=S3_URI)] = None
    inference: Inference = Inference()
    batch_size: Annotated[int, Field(alias="batchSize", ge=1, le=1000)] = 50
    concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    record_timeout_s: Annotated[float, Field(alias="recordTimeoutS", gt=0, le=600)] = 60.0
    # The gain required of decision_metric, whichever it is (F1 only when it is "f1").
    min_f1_gain: Annotated[float, Field(alias="minF1Gain", ge=-1.0, le=1.0)] = 0.01
    decision_metric: Annotated[DecisionMetric, Field(alias="decisionMetric")] = "answerScore"
    max_error_rate: Annotated[float, Field(alias="maxErrorRate", ge=0.0, le=1.0)] = 0.05
    example_count: Annotated[int, Field(alias="exampleCount", ge=0, le=50)] = 5

    @model_validator(mode="after")
    def _check(self) -> EvaluationConfig:
        names = [m.name for m in self.comparison_models]
        clash = sorted({n for n in names if n in RESERVED_NAMES or names.count(n) > 1})
        if clash:
            raise ValueError(
                f"comparisonModels names must be unique and not {' or '.join(RESERVED_NAMES)}: "
                f"{', '.join(clash)}"
            )
        if self.few_shot_count and not self.few_shot_uri:
            raise ValueError("fewShotCount > 0 needs fewShotUri (e.g. the training set)")
        return self

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """Candidate first, baseline second, then the comparison models."""
        return (
            ModelSpec(name="custom", model_id=self.custom_model_id, api=self.custom_model_api),
            ModelSpec(name="base", model_id=self.base_model_id, api="converse"),
            *self.comparison_models,
        )


class Batch(_Frozen):
    """Records [start, stop) of the test set, 0-based; ``batch`` numbers the output file."""

    batch: Annotated[int, Field(ge=0)]
    start: Annotated[int, Field(ge=0)]
    stop: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _order(self) -> Batch:
        if self.stop <= self.start:
            raise ValueError(f"batch stop {self.stop} must be greater than start {self.start}")
        return self


class PlanEvent(_Frozen):
    action: Literal["plan"]
    config: EvaluationConfig


class RunBatchEvent(_Frozen):
    action: Literal["run_batch"]
    config: EvaluationConfig
    batch: Batch


class ReportEvent(_Frozen):
    action: Literal["report"]
    config: EvaluationConfig


class EvaluateEvent(BaseModel):
    event: Annotated[PlanEvent | RunBatchEvent | ReportEvent, Field(discriminator="action")]
