"""Types of the model registry: what a row of `bedrock_pipeline.registry` holds.

Numbers live in the registry; this module only says what they mean and how they are used.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from bedrock_pipeline.formats import ConverseDialect, DatasetFormat

# Converse records of text only, schemaVersion bedrock-conversation-2024.
TEXT_ONLY = ConverseDialect("model-customization-prepare.html")


class CustomizationType(StrEnum):
    FINE_TUNING = "FINE_TUNING"
    CONTINUED_PRE_TRAINING = "CONTINUED_PRE_TRAINING"
    DISTILLATION = "DISTILLATION"


class Trainer(StrEnum):
    BEDROCK = "bedrock"  # CreateModelCustomizationJob
    CONTAINER = "container"  # our SageMaker training image, then Custom Model Import
    IMPORT = "import"  # weights trained elsewhere, Custom Model Import only


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of `choices` (difflib ratio >= 0.6), else ''."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class UnknownModelError(LookupError):
    """A base model id that is not in the registry; the message suggests the closest id and
    lists the ids that are."""

    def __init__(self, model_id: str, allowed: Iterable[str]) -> None:
        self.model_id = model_id
        self.allowed = tuple(sorted(allowed))
        self.suggestion = did_you_mean(model_id, self.allowed)
        super().__init__(
            f"unknown base model '{model_id}'{self.suggestion}; allowed: {', '.join(self.allowed)}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.model_id, self.allowed))


@dataclass(frozen=True)
class HyperparameterSpec:
    key: str
    type: Literal["int", "float"]
    default: float
    min: float
    max: float


@dataclass(frozen=True)
class DatasetLimits:
    """What one (model, customization type) accepts. None: no documented limit."""

    formats: tuple[DatasetFormat, ...]
    source: str
    min_train_records: int | None = None
    max_train_records: int | None = None
    max_validation_records: int | None = None
    max_total_records: int | None = None
    max_tokens_per_record: int | None = None
    max_train_bytes: int | None = None
    max_validation_bytes: int | None = None
    min_validation_records: int | None = None
    single_turn: bool = False  # one user turn (distillation for Claude and Llama)
    require_answer: bool = True  # False: the last assistant turn is optional (distillation)
    converse: ConverseDialect = TEXT_ONLY  # blocks, media and schema versions it reads
    reserved_keywords: tuple[str, ...] = ()  # text that makes the job fail if it appears
    reserved_in_answers: bool = False  # the keywords are refused in assistant turns too
    images_in_dataset_bucket: bool = False  # media must sit in the dataset's own bucket
    # Our container reads the media from its `images` input channel: the validator lists every
    # object the records name (Report.media) for the run's manifest (image_manifest).
    media_channel: bool = False
    homogeneous_media: bool = False  # one kind of media per dataset: images or videos
    validation_file: bool = True  # False: the job takes no validation dataset
    tools_caution: str = ""  # warning for records that use tools ("" = none)


@dataclass(frozen=True)
class TokenEstimator:
    """Token count estimate for a record, used against `max_tokens_per_record`.

    Bedrock counts with the model's own tokenizer. Claude's, Titan's and Nova's are not public
    and the Lambda cannot load Llama's, so all are estimated: ASCII text at `chars_per_token`,
    every non-ASCII character as one token (CJK and emoji are about one or more tokens each),
    plus `turn_overhead` tokens per turn for the chat template. The ratios sit below the
    commonly quoted 4-6 characters per token on purpose: an estimate that is low lets a record
    through that fails the paid job hours later.
    """

    chars_per_token: float
    turn_overhead: int
    basis: str

    def describe(self) -> str:
        return (
            f"ceil(ASCII chars / {self.chars_per_token:g}) + 1 per non-ASCII char + "
            f"{self.turn_overhead} per turn ({self.basis})"
        )


@dataclass(frozen=True)
class BatchSizeGuide:
    """Recommended batch size by training-set size: rows of (records at least, low, high)."""

    rows: tuple[tuple[int, int, int], ...]
    source: str

    def recommend(self, records: int) -> tuple[int, int]:
        for at_least, low, high in self.rows:
            if records >= at_least:
                return low, high
        return self.rows[-1][1], self.rows[-1][2]


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    name: str
    trainer: Trainer
    customizations: Mapping[CustomizationType, DatasetLimits]
    hyperparameters: tuple[HyperparameterSpec, ...]
    estimator: TokenEstimator
    aliases: tuple[str, ...] = ()
    # Custom Model Import: the HF `architectures` name our container exports for this model;
    # None for Bedrock-trained models (their custom models cannot leave Bedrock).
    import_architecture: str | None = None
    batch_size_guide: BatchSizeGuide | None = None
    hyperparameter_source: str = ""

    @property
    def import_eligible(self) -> bool:
        return self.import_architecture is not None

    def limits(self, customization: CustomizationType) -> DatasetLimits | None:
        return self.customizations.get(customization)

    def hyperparameter(self, key: str) -> HyperparameterSpec | None:
        return next((h for h in self.hyperparameters if h.key == key), None)


@dataclass(frozen=True)
class ImportRequirements:
    """[import] Custom Model Import (CreateModelImportJob) requirements."""

    architectures: frozenset[str]
    regions: frozenset[str]
    required_files: tuple[str, ...]
    tokenizer_files: tuple[str, ...]  # at least one must be present
    max_weights_bytes: int
    max_context_tokens: int
    transformers_version: str
    source: str = "model-customization-import-model.html"
    weight_suffix: str = ".safetensors"
    notes: tuple[str, ...] = field(default=())
