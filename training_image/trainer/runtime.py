"""Process-group setup and the few collectives the recipe needs, for CUDA (NCCL) and CPU (gloo)."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from functools import cache

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh


def init(timeout_min: int = 60) -> torch.device:
    """Join the process group torchrun describes (or a world of one); returns this rank's device."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if "RANK" not in os.environ:  # plain `python`: a world of one, for tools and tests
            os.environ.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=timeout_min))
    return device()


def shutdown() -> None:
    """Leave the process group at the end of a successful run: collective, every rank calls it.

    The order matters. ``gc.collect()`` first: the model's FSDP2 state references the group from
    inside reference cycles, and freeing it here, not at some later collection, means no
    collective can start from a finalizer. The barrier then holds every rank until all of them
    have finished every collective (the export's included), so no rank closes its connections
    while a peer still reads from them. Only then ``destroy_process_group``.
    Even so the backend object outlives this call: torch's DTensor caches keep the device mesh,
    and through its registry the group (gloo: two work threads, the TCP loop thread and the
    connections to every peer), alive until the interpreter exits; the worker therefore ends
    without interpreter finalization (``worker.exit_now``).
    """
    if not dist.is_initialized():
        return
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


def device() -> torch.device:
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def mesh(sharding: str) -> DeviceMesh:
    """1-D mesh for full sharding; 2-D (replicate over nodes, shard within a node) for hybrid,
    which 'auto' is whenever the job spans more than one node."""
    world = dist.get_world_size()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    kind = device().type
    if sharding in ("hybrid", "auto") and world > local:
        return init_device_mesh(
            kind, (world // local, local), mesh_dim_names=("replicate", "shard")
        )
    return init_device_mesh(kind, (world,), mesh_dim_names=("shard",))


@cache
def host_group() -> dist.ProcessGroup | None:
    """A gloo group for Python objects (tokenized data): NCCL would stage them in GPU memory."""
    if dist.get_backend() == "gloo":
        return None  # the default group already is one
    return dist.new_group(backend="gloo")


def all_sum(values: Sequence[float]) -> list[float]:
    """Sum a few scalars over ranks (fp64 so token counts stay exact)."""
    t = torch.tensor(list(values), dtype=torch.float64, device=device())
    dist.all_reduce(t)
    return t.tolist()


def is_main() -> bool:
    return dist.get_rank() == 0


def log(message: str) -> None:
    """Rank 0 prints; one line per event so CloudWatch keeps them whole."""
    if is_main():
        print(message, file=sys.stdout, flush=True)
