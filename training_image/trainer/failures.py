"""Which failure is the root cause, and how to say it in one line for the FailureReason.

When one rank dies, every other rank fails soon after with a communication error (gloo: the
peer closed its connection; NCCL: the watchdog aborts or a collective raises). Those are
consequences: a worker does not report them itself, and the launcher ranks them last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.distributed as dist

# What a signal usually means for a training worker.
SIGNAL_CAUSES = {
    "SIGKILL": "killed: usually the kernel's out-of-memory killer (host RAM)",
    "SIGABRT": "aborted: usually the NCCL watchdog (a collective timed out or a peer failed) "
    "or a CUDA error",
    "SIGSEGV": "segmentation fault",
    "SIGBUS": "bus error: usually /dev/shm too small",
}
# Texts of the errors a collective raises when a peer is gone (gloo's TCP transport, NCCL).
PEER_ERRORS = ("gloo/transport", "Connection closed by peer", "Connection reset by peer",
               "NCCL communicator was aborted", "ProcessGroupNCCL")  # fmt: skip


def is_peer_failure(error: BaseException | str) -> bool:
    """True for a collective that failed because another rank died first."""
    if isinstance(error, dist.DistError) and not isinstance(error, dist.DistStoreError):
        return True
    text = str(error)
    return any(marker in text for marker in PEER_ERRORS)


def _message(failure: Any) -> str:
    message = failure.message
    if isinstance(message, dict):  # a worker's @record error file: {"message": ..., ...}
        message = message.get("message", "")
    return str(message)


def root_cause(failures: Mapping[int, Any]) -> tuple[int, Any]:
    """The first of: a worker killed by a signal other than SIGTERM (torchrun's own stop), an
    exception that is not a peer's aftermath, anything else; earliest first within each."""

    def rank_of(item: tuple[int, Any]) -> tuple[int, float, int]:
        rank, failure = item
        if failure.exitcode < 0 and failure.signal_name() != "SIGTERM":
            kind = 0
        elif failure.exitcode > 0 and not is_peer_failure(_message(failure)):
            kind = 1
        else:
            kind = 2
        return kind, failure.timestamp, rank

    return min(failures.items(), key=rank_of)


def describe(rank: int, failure: Any, host: str) -> str:
    """One line from torchelastic's ProcessFailure."""
    where = f"rank {rank} (local rank {failure.local_rank}) on {host}"
    if failure.exitcode < 0:
        name = failure.signal_name()
        cause = SIGNAL_CAUSES.get(name, "killed by a signal")
        return f"{where}: {name} ({cause}); see the job's log for the other ranks"
    return f"{where} exited with code {failure.exitcode}: {_message(failure)}"
