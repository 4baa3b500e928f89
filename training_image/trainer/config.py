"""The container's view of its hyperparameters: the table itself lives in
`bedrock_pipeline.training_contract` (shared with the workflow); this adds what needs the
cluster."""

from __future__ import annotations

from bedrock_pipeline.training_contract import (
    ALL_LINEAR,
    HyperparameterError,
    TrainConfig,
    batch_layout_problem,
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
    problem = batch_layout_problem(config.batchSize, config.microBatchSize, world_size)
    if problem:
        raise HyperparameterError("batchSize", config.batchSize, problem)
    return config.batchSize // (config.microBatchSize * world_size)
