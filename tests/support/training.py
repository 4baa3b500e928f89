"""Helpers of the training container tests (data, fakes, typed handles); the fixtures that use
them live in tests/training/conftest.py."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training_image.trainer.sagemaker import Paths
from training_image.trainer.train import Outcome

SAMPLE = Path(__file__).resolve().parents[2] / "training_image" / "sample_data"


# Small, fast and exact: fp32 everywhere so losses compare to float tolerance.
FAST = {
    "maxSequenceLength": "128",
    "batchSize": "4",
    "learningRate": "0.005",
    "learningRateWarmupSteps": "0",
    "mixedPrecision": "fp32",
    "loraRank": "4",
    "loraAlpha": "8",
    "loraDropout": "0",
    "activationCheckpointing": "false",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_channel(directory: Path, records: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "data.jsonl").open("w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    return directory


def sample_records(name: str, count: int) -> list[dict[str, Any]]:
    lines = (SAMPLE / f"{name}.jsonl").read_text().splitlines()[:count]
    return [json.loads(line) for line in lines]


RunJob = Callable[..., tuple[Outcome, Paths]]
