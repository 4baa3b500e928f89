"""Shared fixtures for the training tests: one tokenizer, tiny base checkpoints, a world of one.

Everything expensive is session-scoped. Recipe runs use a few dozen records and a few steps of a
hidden-64, 2-layer model, so a whole run (model build, training, export) takes seconds on CPU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist

from tests.support.training import FAST, SAMPLE, RunJob, free_port, sample_records, write_channel
from training_image.tiny import jsonl_texts, train_tokenizer, write_base_model
from training_image.trainer.config import parse_hyperparameters
from training_image.trainer.sagemaker import Paths
from training_image.trainer.train import Job, Outcome, run


@pytest.fixture(scope="session")
def world_of_one() -> Iterator[None]:
    """An in-process gloo group of one rank: FSDP2, DCP and the recipe run unchanged on it."""
    if not dist.is_initialized():
        store = dist.TCPStore("127.0.0.1", free_port(), 1, is_master=True)
        dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    yield


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return train_tokenizer(jsonl_texts([SAMPLE / "train.jsonl"]))


@pytest.fixture(scope="session")
def base_models(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("base")
    out = {}
    for arch in ("llama", "mistral", "qwen2"):
        write_base_model(root / arch, arch, tokenizer, seed=1)
        out[arch] = root / arch
    return out


@pytest.fixture
def run_job(tmp_path: Path, base_models: dict[str, Path], world_of_one: None) -> RunJob:
    """Run the recipe in-process on `train` records (and `validation`), like the container."""

    def go(
        hyperparameters: dict[str, str],
        *,
        arch: str = "llama",
        train: int = 48,
        validation: int = 0,
        root: Path | None = None,
        interrupt_after: int | None = None,
    ) -> tuple[Outcome, Paths]:
        root = root or tmp_path / "job"
        write_channel(root / "train", sample_records("train", train))
        if validation:
            write_channel(root / "validation", sample_records("validation", validation))
        env = {
            "SM_CHANNEL_TRAIN": str(root / "train"),
            "SM_CHANNEL_VALIDATION": str(root / "validation"),
            "SM_CHANNEL_BASE_MODEL": str(base_models[arch]),
            "SM_MODEL_DIR": str(root / "model"),
            "SM_OUTPUT_DIR": str(root / "output"),
            "SM_INPUT_CONFIG_DIR": str(root / "config"),
            "TRAINER_CHECKPOINT_DIR": str(root / "checkpoints"),
            "TRAINER_BEST_DIR": str(root / "best-local"),
        }
        paths = Paths.from_env(env)
        cfg = parse_hyperparameters({**FAST, **hyperparameters})
        return run(Job(cfg, paths), interrupt_after=interrupt_after), paths

    return go
