"""Container entry point (`train`): check the job's inputs, then start torchrun on this node.

SageMaker runs `train` on every host of the job. Hyperparameters and channels are checked here,
before any GPU process starts, so a typo fails in seconds with the offending name in the job's
FailureReason. Then one torchrun per node starts one worker per GPU (TRAINER_NPROC_PER_NODE
overrides the count: the local CPU run uses 2 gloo processes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import torch

from training_image.trainer.config import (
    HyperparameterError,
    check_batch_layout,
    parse_hyperparameters,
)
from training_image.trainer.sagemaker import (
    MASTER_PORT,
    Cluster,
    ContractError,
    Paths,
    read_hyperparameters,
    torchrun_command,
    write_failure,
)


def main() -> int:
    paths = Paths.from_env()
    cluster = Cluster.from_env()
    nproc = int(os.environ.get("TRAINER_NPROC_PER_NODE", torch.cuda.device_count() or 1))
    try:
        paths.check()
        cfg = parse_hyperparameters(read_hyperparameters(paths.hyperparameters))
        check_batch_layout(cfg, nproc * len(cluster.hosts))
    except (HyperparameterError, ContractError) as exc:
        write_failure(paths.output, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    env = dict(os.environ)
    if cluster.network_interface:  # NCCL must use the interface SageMaker wires between hosts
        env.setdefault("NCCL_SOCKET_IFNAME", cluster.network_interface)
    port = int(os.environ.get("TRAINER_MASTER_PORT", MASTER_PORT))
    command = torchrun_command(cluster, nproc, port)
    print(" ".join(command), flush=True)
    child = subprocess.Popen(command, env=env)
    # `docker stop` (job stopped, spot reclaimed) signals PID 1, this process: pass it on so
    # torchrun can stop its workers instead of being killed with them mid-write.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
