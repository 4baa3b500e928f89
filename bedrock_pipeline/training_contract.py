"""What the workflow and the training container agree on: channels, hyperparameters, metrics.

The workflow builds CreateTrainingJob from these tables (channel names, HyperParameters,
MetricDefinitions) and can reject bad hyperparameters before paying for an instance; the
container parses the same hyperparameters with the same model and prints its metrics with
`metric_line`, so the regexes SageMaker applies to the logs cannot drift from what is printed.
No torch here: Lambda imports it.

Hyperparameter names follow Bedrock's customization API where the meaning is the same
(epochCount, batchSize, learningRate, learningRateWarmupSteps, earlyStoppingThreshold,
earlyStoppingPatience), so one map can go to either Bedrock or the container. SageMaker writes
every value as a string, so the model parses in pydantic's lax mode ("3" -> 3, "true" -> True)
and lists are accepted as "a,b,c" or a JSON list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bedrock_pipeline.model_spec import HyperparameterSpec

CHANNEL_TRAIN = "train"
CHANNEL_VALIDATION = "validation"  # optional: enables validation loss, early stopping, best keep
CHANNEL_BASE_MODEL = "base_model"  # HF-layout weights, config.json and tokenizer files
REQUIRED_CHANNELS: tuple[str, ...] = (CHANNEL_TRAIN, CHANNEL_BASE_MODEL)
# Image records (Llama 3.2 Vision): the referenced S3 objects, at their keys under the channel
# (s3://b/k/x.png -> $SM_CHANNEL_IMAGES/k/x.png; bedrock_pipeline.image_manifest); the container
# never reads S3 itself.
CHANNEL_IMAGES = "images"
# The training job's environment variables naming each data channel's S3 source
# (TRAINER_SOURCE_TRAIN=s3://...), so the container's errors name the dataset, not its copy in
# the job. CreateTrainingJob's Environment values hold at most 512 characters (botocore's
# SageMaker model); a longer URI is left out and errors name the file in the job.
ENV_SOURCE_PREFIX = "TRAINER_SOURCE_"
MAX_ENVIRONMENT_VALUE = 512
OPTIONAL_CHANNELS: tuple[str, ...] = (CHANNEL_VALIDATION, CHANNEL_IMAGES)

# SageMaker metric name -> key printed in the metric line.
METRIC_KEYS: dict[str, str] = {
    "train:loss": "train_loss",
    "validation:loss": "val_loss",
    "train:learning_rate": "lr",
    "train:grad_norm": "grad_norm",
    "train:tokens_per_second": "tokens_per_s",
    "train:epoch": "epoch",
}
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
LINE_PREFIX = "[metrics]"


def metric_definitions() -> list[dict[str, str]]:
    """AlgorithmSpecification.MetricDefinitions for CreateTrainingJob."""
    return [{"Name": name, "Regex": rf"\b{key}={_NUMBER}"} for name, key in METRIC_KEYS.items()]


def metric_line(step: int, values: Mapping[str, float]) -> str:
    """One log line: `[metrics] step=12 train_loss=1.234 lr=0.0001`; keys from METRIC_KEYS."""
    known = set(METRIC_KEYS.values())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"metric keys {unknown} are not in METRIC_KEYS ({sorted(known)})")
    parts = " ".join(f"{k}={v:.6g}" for k, v in values.items())
    return f"{LINE_PREFIX} step={step} {parts}"


def parse_metric_line(line: str) -> dict[str, float]:
    """Inverse of metric_line through the published regexes (what SageMaker will see)."""
    out: dict[str, float] = {}
    if not line.startswith(LINE_PREFIX):
        return out
    for definition in metric_definitions():
        found = re.search(definition["Regex"], line)
        if found:
            out[definition["Name"]] = float(found.group(1))
    return out


# GPUs per SageMaker training instance (Amazon EC2 accelerated-computing instance pages; the
# ml. types have the same hardware). The batch is split over every GPU of every instance:
# batchSize must be a multiple of microBatchSize x GPUs x instanceCount.
GPUS_PER_INSTANCE: dict[str, int] = {
    **{f"ml.{family}.{size}": 1 for family in ("g5", "g6", "g6e")
       for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    **{f"ml.{family}.{size}": gpus for family in ("g5", "g6", "g6e")
       for size, gpus in (("12xlarge", 4), ("24xlarge", 4), ("48xlarge", 8))},
    "ml.p4d.24xlarge": 8,
    "ml.p4de.24xlarge": 8,
    "ml.p5.48xlarge": 8,
    "ml.p5e.48xlarge": 8,
    "ml.p5en.48xlarge": 8,
}  # fmt: skip
DEFAULT_INSTANCE_TYPE = "ml.g5.2xlarge"


def world_size(instance_type: str, instance_count: int = 1) -> int:
    """GPUs of a training job; KeyError for an instance type not in GPUS_PER_INSTANCE."""
    return GPUS_PER_INSTANCE[instance_type] * instance_count


def batch_layout_problem(batch_size: int, micro_batch_size: int, gpus: int) -> str | None:
    """Why `batch_size` cannot be split over `gpus` GPUs of `micro_batch_size`, or None.
    The container checks the same rule when it starts (trainer/config.check_batch_layout)."""
    per_step = micro_batch_size * gpus
    if batch_size % per_step:
        low = max(per_step, batch_size - batch_size % per_step)
        return (
            f"must be a multiple of microBatchSize ({micro_batch_size}) x GPUs ({gpus}) = "
            f"{per_step}; e.g. {low} or {low + per_step}"
        )
    return None


# Hyperparameters SageMaker itself may add (framework estimators); they are not ours to check.
_SAGEMAKER_PREFIX = "sagemaker_"
ALL_LINEAR = "all-linear"


class HyperparameterError(ValueError):
    """A hyperparameter the user set is unknown or out of range; names it and what is allowed."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"hyperparameter '{name}' = {value!r}: {allowed}")


class TrainConfig(BaseModel):
    """Every knob of the trainer. Field constraints are the allowed ranges users see in errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    method: Literal["lora", "full"] = "lora"
    # Same meaning and range as Bedrock's epochCount.
    epochCount: int = Field(3, ge=1, le=50)
    # 0 = run all epochs; otherwise stop after this many optimizer steps (schedule ends there).
    maxSteps: int = Field(0, ge=0, le=1_000_000)
    # Sequences (rows of maxSequenceLength when packing) per optimizer step, over all GPUs. The
    # accumulation steps follow from it: batchSize / (microBatchSize * world size).
    batchSize: int = Field(8, ge=1, le=4096)
    microBatchSize: int = Field(1, ge=1, le=256)
    learningRate: float = Field(2e-4, ge=1e-7, le=1e-2)
    learningRateWarmupSteps: int = Field(10, ge=0, le=100_000)
    # Cosine decays to learningRate * minLearningRateRatio.
    minLearningRateRatio: float = Field(0.1, ge=0, le=1)
    weightDecay: float = Field(0.0, ge=0, le=1)
    # 0 disables clipping.
    maxGradNorm: float = Field(1.0, ge=0, le=1000)
    # Bedrock Custom Model Import accepts context < 128K.
    maxSequenceLength: int = Field(4096, ge=128, le=131_072)
    packing: bool = True
    loraRank: int = Field(16, ge=1, le=1024)
    loraAlpha: float = Field(32.0, ge=1, le=4096)
    loraDropout: float = Field(0.05, ge=0, le=0.9)
    loraTargetModules: tuple[str, ...] = (ALL_LINEAR,)
    # 0 = validate once per epoch.
    evalEverySteps: int = Field(0, ge=0, le=1_000_000)
    # Same meaning and range as Bedrock's Claude 3 Haiku settings: validation loss must improve
    # by more than the threshold within `patience` consecutive evaluations, or training stops.
    earlyStopping: bool = True
    earlyStoppingThreshold: float = Field(0.001, ge=0, le=0.1)
    earlyStoppingPatience: int = Field(2, ge=1, le=10)
    # A spot interruption loses at most this many optimizer steps.
    checkpointEverySteps: int = Field(100, ge=1, le=1_000_000)
    # auto: hybrid (shard within a node, replicate across nodes) when the job has more than one
    # instance, so parameters are all-gathered over NVLink, not the network; full on one.
    sharding: Literal["auto", "full", "hybrid"] = "auto"
    activationCheckpointing: bool = True
    mixedPrecision: Literal["bf16", "fp32"] = "bf16"
    # auto: flash-attn varlen on CUDA when installed, else FlexAttention on CUDA, SDPA on CPU.
    attention: Literal["auto", "flash", "flex", "sdpa"] = "auto"
    compile: bool = False
    # chat: prompt/completion records get the chat template (user/assistant) like the other
    # formats; raw: prompt + completion concatenated, as Bedrock's Llama 3.1 fine-tuning reads them.
    promptCompletionTemplate: Literal["chat", "raw"] = "chat"
    seed: int = Field(42, ge=0, le=2**31 - 1)
    logEverySteps: int = Field(1, ge=1, le=100_000)
    exportShardSizeMb: int = Field(5000, ge=1, le=50_000)
    # Vision models (Mllama): the vision tower is frozen unless this is false (full fine-tuning
    # only); LoRA adapts the language model's linears, its cross-attention ones only when asked.
    freezeVisionTower: bool = True
    loraCrossAttention: bool = False

    @field_validator("loraTargetModules", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return tuple(json.loads(text))
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return value

    @field_validator("loraTargetModules")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one module, or 'all-linear'")
        if ALL_LINEAR in value and len(value) > 1:
            raise ValueError("'all-linear' cannot be combined with module names")
        return value

    @property
    def lora_scaling(self) -> float:
        return self.loraAlpha / self.loraRank


def _allowed(name: str) -> str:
    """Describe a field's allowed values from its own declaration (the table above)."""
    field = TrainConfig.model_fields[name]
    annotation = field.annotation
    literal = getattr(annotation, "__args__", None)
    if getattr(annotation, "__origin__", None) is Literal and literal:
        return "allowed: " + ", ".join(repr(v) for v in literal)
    if annotation is bool:
        return "allowed: true, false"
    bounds = []
    for meta in field.metadata:
        for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                bounds.append(f"{word} {getattr(meta, attr)}")
    kind = {int: "an integer", float: "a number"}.get(annotation, "a value")  # type: ignore[arg-type]
    if name == "loraTargetModules":
        return "allowed: 'all-linear' or a comma-separated list of module names (q_proj,v_proj)"
    return f"must be {kind}" + (" " + " and ".join(bounds) if bounds else "")


def parse_hyperparameters(raw: Mapping[str, Any]) -> TrainConfig:
    """Build the config from SageMaker's string map; HyperparameterError on the first bad key."""
    values = {k: v for k, v in raw.items() if not k.startswith(_SAGEMAKER_PREFIX)}
    for key in values:
        if key not in TrainConfig.model_fields:
            known = ", ".join(sorted(TrainConfig.model_fields))
            raise HyperparameterError(key, values[key], f"unknown hyperparameter; known: {known}")
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "?"
        detail = _allowed(name) if name in TrainConfig.model_fields else error["msg"]
        if error["type"] == "value_error":
            detail = f"{error['msg'].removeprefix('Value error, ')}; {detail}"
        raise HyperparameterError(name, values.get(name), detail) from None


def registry_specs() -> tuple[HyperparameterSpec, ...]:
    """The numeric hyperparameters as registry rows (key, type, default, inclusive range)."""
    specs = []
    for name, field in TrainConfig.model_fields.items():
        if field.annotation not in (int, float) or field.annotation is bool:
            continue
        low = high = None
        for meta in field.metadata:
            low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
            low = getattr(meta, "gt", None) if getattr(meta, "gt", None) is not None else low
            high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
            high = getattr(meta, "lt", None) if getattr(meta, "lt", None) is not None else high
        kind: Literal["int", "float"] = "int" if field.annotation is int else "float"
        specs.append(HyperparameterSpec(name, kind, field.default, low, high))  # type: ignore[arg-type]
    return tuple(specs)
