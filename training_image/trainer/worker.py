"""One training process (torchrun starts one per GPU): read the job, train, export, leave.

Launch (as the container's `train` does): ``python -m torch.distributed.run --nproc-per-node=N
-m training_image.trainer.worker``.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from torch.distributed.elastic.multiprocessing.errors import record

from training_image.trainer import runtime
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
        # No teardown on this path: a peer may be inside a collective with this rank, and
        # leaving the group then can block (NCCL waits for the collective) or raise in place of
        # this error. torchrun stops the other workers once this one has exited.
        raise
    runtime.shutdown()  # barrier, then destroy_process_group, on every rank
    return 0


def exit_now(code: int) -> NoReturn:
    """End the process once every output is written, without interpreter finalization.

    After ``runtime.shutdown`` the process group's backend is still alive (torch's DTensor
    caches hold the device mesh that holds it), with its threads and its connections to the
    peers. Normal interpreter exit would destroy it at an arbitrary point of module teardown,
    while peers exit too; an error raised there on a C++ thread ends the process with SIGABRT,
    and torchrun would fail a job whose model is already exported. Everything this process
    writes is closed by then; only the standard streams are buffered.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main() or 0)  # record types its result as optional; main returns 0 or raises
