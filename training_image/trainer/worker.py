"""One training process (torchrun starts one per GPU): read the job, train, export."""

from __future__ import annotations

import os
import sys

import torch.distributed as dist

from training_image.trainer.config import parse_hyperparameters
from training_image.trainer.sagemaker import Paths, read_hyperparameters, write_failure
from training_image.trainer.train import Job, run


def main() -> int:
    paths = Paths.from_env()
    try:
        paths.check()
        cfg = parse_hyperparameters(read_hyperparameters(paths.hyperparameters))
        run(Job(cfg, paths))
    except Exception as exc:
        # Every rank logs its own error; rank 0's becomes the job's FailureReason.
        if os.environ.get("RANK", "0") == "0":
            write_failure(paths.output, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
