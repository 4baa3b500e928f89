"""Container entry point (`train`): check the job's inputs, then run torchrun on this node.

SageMaker runs `train` on every host of the job. Hyperparameters, channels and the writable
outputs are checked here, before any GPU process starts, so a typo or a read-only mount fails in
seconds with the offending name in the job's FailureReason. Then torchrun (in this process, so
its failure report is at hand) starts one worker per GPU (TRAINER_NPROC_PER_NODE overrides the
count: the local CPU run uses 2 gloo processes). `docker stop` (job stopped, spot reclaimed)
signals this process, PID 1; torchrun's handler passes SIGTERM on to the workers.

Failure reporting: a worker that raises writes `failure` itself (any rank, the first writer
wins) and torchelastic's error file, unless its error is a collective failing because a peer
died. A worker that dies without a Python exception (the OOM killer's SIGKILL, the NCCL
watchdog's SIGABRT, a segfault) writes nothing: then this process writes `failure` from
torchrun's record of the root cause (failures.root_cause).
"""

from __future__ import annotations

import os
import sys

import torch

from training_image.trainer.config import (
    HyperparameterError,
    check_batch_layout,
    parse_hyperparameters,
)
from training_image.trainer.failures import describe, root_cause
from training_image.trainer.sagemaker import (
    MASTER_PORT,
    Cluster,
    ContractError,
    Paths,
    check_writable,
    read_hyperparameters,
    torchrun_command,
    write_failure,
)


def run_torchrun(command: list[str]) -> None:
    """torch.distributed.run in this process; raises ChildFailedError when a worker fails."""
    from torch.distributed.run import parse_args, run

    run(parse_args(command[command.index("torch.distributed.run") + 1 :]))


def main() -> int:
    paths = Paths.from_env()
    cluster = Cluster.from_env()
    nproc = int(os.environ.get("TRAINER_NPROC_PER_NODE", torch.cuda.device_count() or 1))
    try:
        paths.check()
        cfg = parse_hyperparameters(read_hyperparameters(paths.hyperparameters))
        check_batch_layout(cfg, nproc * len(cluster.hosts))
        check_writable(paths)
    except (HyperparameterError, ContractError) as exc:
        write_failure(paths.output, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if cluster.network_interface:  # NCCL must use the interface SageMaker wires between hosts
        os.environ.setdefault("NCCL_SOCKET_IFNAME", cluster.network_interface)
    port = int(os.environ.get("TRAINER_MASTER_PORT", MASTER_PORT))
    command = torchrun_command(cluster, nproc, port)
    print(" ".join(command), flush=True)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        run_torchrun(command)
    except ChildFailedError as exc:
        rank, failure = root_cause(exc.failures)
        message = describe(rank, failure, cluster.current_host)
        write_failure(paths.output, message)  # kept only if no worker wrote its own
        print(f"error: {message}", file=sys.stderr)
        return 1
    except SignalException as exc:  # stopped or reclaimed: not a failure of the job
        print(f"stopped by {exc.sigval.name}", file=sys.stderr)
        return 128 + int(exc.sigval)
    except Exception as exc:  # rendezvous errors and the like: torchrun itself failed
        message = f"torchrun on {cluster.current_host} failed: {type(exc).__name__}: {exc}"
        write_failure(paths.output, message)
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
