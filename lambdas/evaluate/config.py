"""The evaluation step's input: one configuration shared by its three actions.

``EvaluationConfig`` is the run document's ``evaluation`` section (``run_spec.Evaluation``)
plus what the workflow adds (run id, base and custom model, promotion gate) and the step's own
knobs, under the same camelCase keys. The state machine keeps one such object
(``run_state``: ``evaluation.config``) and passes it unchanged to ``plan``, to every
``run_batch`` (with the batch the Map item names) and to ``report``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bedrock_pipeline.patterns import RUN_NAME, S3_OBJECT_URI
from bedrock_pipeline.promotion import DecisionMetric
from bedrock_pipeline.run_spec import EvaluatedModel, Evaluation
from bedrock_pipeline.run_spec import Inference as DocumentInference

RESERVED_NAMES = ("custom", "base")

Api = Literal["auto", "converse", "invoke"]

__all__ = ["Batch", "EvaluateEvent", "EvaluatedModel", "EvaluationConfig", "Inference"]


class Inference(DocumentInference):
    """The run document's inference settings plus the sampling knobs only a direct caller of
    the step sets."""

    top_p: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    stop_sequences: Annotated[tuple[str, ...], Field(max_length=4)] = ()


class EvaluationConfig(Evaluation):
    """A model to evaluate is an ``EvaluatedModel``; ``api``: converse, invoke (InvokeModel with
    an OpenAI-style chat body, for imported architectures Converse does not serve, e.g.
    Qwen2.5), or auto (Converse, falling back to InvokeModel when Bedrock says the model does
    not support Converse)."""

    run_id: Annotated[str, Field(pattern=RUN_NAME)]
    # The step reads objects: unlike the run document's, these URIs need a key.
    test_data_uri: Annotated[str, Field(pattern=S3_OBJECT_URI)]
    few_shot_uri: Annotated[str | None, Field(pattern=S3_OBJECT_URI)] = None
    inference: Inference = Inference()
    base_model_id: Annotated[str, Field(min_length=1, max_length=2048)]
    # Provisioned model ARN, imported model ARN or custom model (deployment) ARN.
    custom_model_id: Annotated[str, Field(min_length=1, max_length=2048)]
    custom_model_api: Api = "auto"
    record_timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    # The gain required of decision_metric, whichever it is (F1 only when it is "f1").
    min_f1_gain: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.01
    decision_metric: DecisionMetric = "answerScore"
    max_error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    example_count: Annotated[int, Field(ge=0, le=50)] = 5

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
    def models(self) -> tuple[EvaluatedModel, ...]:
        """Candidate first, baseline second, then the comparison models."""
        return (
            EvaluatedModel(name="custom", model_id=self.custom_model_id, api=self.custom_model_api),
            EvaluatedModel(name="base", model_id=self.base_model_id, api="converse"),
            *self.comparison_models,
        )


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


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
    action: Literal["plan"]  # contract.EvaluateAction
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
