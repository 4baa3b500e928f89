"""One training process (torchrun starts one per GPU): read the job, train, export."""

from __future__ import annotations

import os
import sys

import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record

from training_image.trainer.config import parse_hyperparameters
from training_image.trainer.failures import is_peer_failure
from training_image.trainer.sagemaker import (
    Cluster,
    Paths,
    read_hyperparameters,
    write_failure,
)
from training_image.trainer.train import Job, run


@record  # torchelastic's error file: torchrun reports this rank's exception as the root cause
def main() -> int:
    paths = Paths.from_env()
    try:
        paths.check()
        cfg = parse_hyperparameters(read_hyperparameters(paths.hyperparameters))
        run(Job(cfg, paths))
    except Exception as exc:
        # Any rank on any node: the first to fail is the root cause, and the first writer wins.
        # A collective broken by a dead peer is not: the launcher reports that peer instead.
        if not is_peer_failure(exc):
            rank = os.environ.get("RANK", "0")
            host = Cluster.from_env().current_host
            write_failure(paths.output, f"rank {rank} on {host}: {type(exc).__name__}: {exc}")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
