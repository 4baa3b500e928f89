"""The container's view of its hyperparameters: the table itself lives in
`bedrock_pipeline.training_contract` (shared with the workflow); this adds what needs the
cluster."""

from __future__ import annotations

from bedrock_pipeline.training_contract import (
    ALL_LINEAR,
    HyperparameterError,
    TrainConfig,
    parse_hyperparameters,
)

__all__ = [
    "ALL_LINEAR",
    "HyperparameterError",
    "TrainConfig",
    "check_batch_layout",
    "parse_hyperparameters",
]


def check_batch_layout(config: TrainConfig, world_size: int) -> int:
    """Gradient accumulation steps for this cluster; the batch must split evenly over it."""
    per_step = config.microBatchSize * world_size
    if config.batchSize % per_step:
        raise HyperparameterError(
            "batchSize",
            config.batchSize,
            f"must be a multiple of microBatchSize ({config.microBatchSize}) x GPUs "
            f"({world_size}) = {per_step}",
        )
    return config.batchSize // per_step
