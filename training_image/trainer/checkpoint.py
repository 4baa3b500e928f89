"""Sharded checkpoints for spot interruptions, and the best weights kept for export.

Interval checkpoints use torch.distributed.checkpoint (DCP): every rank writes its own shards of
the trainable weights and of the optimizer state (LoRA: adapters only; the frozen base comes
from the model channel again), so nothing is gathered to one rank. SageMaker syncs
/opt/ml/checkpoints to S3 from every node and downloads the whole prefix to every node on
restart. A checkpoint counts only once each node has written its marker, a manifest of the
files its ranks wrote and their sizes, and every listed file is there at that size: one that an
interruption cut short, or that SageMaker had not finished uploading, is skipped. The two newest
complete checkpoints are kept; rank 0 chooses, and when the newest fails to load the run resumes
from the one before it: at most 2 x `checkpointEverySteps` steps are lost.

The best weights (lowest validation loss) are kept per rank as plain local shards: they are
reloaded by the same ranks in the same job, before export, and need no resharding. LoRA keeps
them beside the checkpoints; full fine-tuning on local disk, in bf16 (train.py says why).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_state_dict,
    set_state_dict,
)
from torch.distributed.tensor import DTensor

from training_image.trainer import runtime
from training_image.trainer.model import clean_name

_OPTIONS = StateDictOptions(ignore_frozen_params=True)
# Loading a trainable-only state dict leaves the frozen weights "missing" by design; any other
# missing key is checked for explicitly below.
_LOAD_OPTIONS = StateDictOptions(ignore_frozen_params=True, strict=False)
_STEP_PREFIX = "step-"
_STATE_FILE = "trainer_state.json"


@dataclass
class TrainerState:
    """Everything besides tensors that a resumed run needs to continue identically."""

    step: int = 0  # optimizer steps done
    best_val_loss: float | None = None
    best_step: int | None = None
    stopper: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


_MARKER = "DONE-node"
KEEP = 2  # complete checkpoints kept: the newest may prove unreadable after a restart


def _node_info() -> tuple[int, int]:
    local = int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size()))
    return dist.get_rank() // local, dist.get_world_size() // local


def _is_local_leader() -> bool:
    return int(os.environ.get("LOCAL_RANK", dist.get_rank())) == 0


def _has_cuda() -> bool:
    return torch.cuda.is_available()


def _rng_state() -> dict[str, torch.Tensor]:
    # CUDA's generator drives dropout on the GPU: without it a resumed run differs from there.
    state = {"cpu": torch.get_rng_state()}
    if _has_cuda():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and _has_cuda():
        torch.cuda.set_rng_state(state["cuda"])


def _my_files(path: Path) -> dict[str, int]:
    """Files this rank wrote into the checkpoint, with their sizes in bytes."""
    rank = dist.get_rank()
    names = [p.name for p in path.glob(f"__{rank}_*.distcp")] + [f"rng-{rank}.pt"]
    if rank == 0:
        names += [".metadata", _STATE_FILE]
    return {name: (path / name).stat().st_size for name in names}


def save(
    root: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainerState
) -> Path:
    """Collective: write step-N/ under root; all ranks return after every node marked it done.

    Each node's marker is the manifest (file name -> size) of what its ranks wrote: a
    checkpoint counts only when every file of every node is there at its full size, which is
    what a restart must check after SageMaker's download, not merely that a node finished.
    """
    path = root / f"{_STEP_PREFIX}{state.step:08d}"
    if _is_local_leader():  # one left by a run that resumed from an older one: its marker and
        shutil.rmtree(path, ignore_errors=True)  # files must not vouch for a half-written copy
    dist.barrier()
    path.mkdir(parents=True, exist_ok=True)
    model_sd, optim_sd = get_state_dict(model, optimizer, options=_OPTIONS)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(path))
    torch.save(_rng_state(), path / f"rng-{dist.get_rank()}.pt")
    if dist.get_rank() == 0:
        (path / _STATE_FILE).write_text(json.dumps(asdict(state)))
    node, _ = _node_info()
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (node, _my_files(path)))
    if _is_local_leader():
        manifest = {k: v for n, files in gathered if n == node for k, v in files.items()}
        tmp = path / f".{_MARKER}{node}.tmp"
        tmp.write_text(json.dumps({"files": manifest}))
        tmp.replace(path / f"{_MARKER}{node}")
    dist.barrier()
    if _is_local_leader():
        _prune(root)
    return path


def _complete(path: Path, nodes: int) -> bool:
    """Every node's manifest is there and every file it lists has its recorded size."""
    for node in range(nodes):
        try:
            files = json.loads((path / f"{_MARKER}{node}").read_text())["files"]
            if any((path / name).stat().st_size != size for name, size in files.items()):
                return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
    return True


def complete_checkpoints(root: Path) -> list[Path]:
    """Checkpoints that every node finished writing and that arrived whole, newest first."""
    if not root.is_dir():
        return []
    _, nodes = _node_info()
    steps = sorted((p for p in root.glob(f"{_STEP_PREFIX}*") if p.is_dir()), reverse=True)
    return [p for p in steps if _complete(p, nodes)]


def latest(root: Path) -> Path | None:
    """The newest complete checkpoint (as this rank sees it)."""
    return next(iter(complete_checkpoints(root)), None)


def _prune(root: Path) -> None:
    """Keep the KEEP newest complete checkpoints and anything newer (being written)."""
    kept = complete_checkpoints(root)[:KEEP]
    if len(kept) < KEEP:
        return
    for old in root.glob(f"{_STEP_PREFIX}*"):
        if old.name < kept[-1].name:
            shutil.rmtree(old, ignore_errors=True)


def resume(
    root: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[Path, TrainerState] | None:
    """Collective: load the newest checkpoint that loads on every rank, None if there is none.

    Rank 0 chooses (every node sees the same choice even if their downloads differ) and the
    next older complete checkpoint is tried when loading fails on any rank.
    """
    choices: list[Any] = [complete_checkpoints(root) if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(choices, src=0)
    for path in choices[0]:
        try:
            state: TrainerState | None = load(path, model, optimizer)
            error = ""
        # DCP raises CheckpointException, a BaseException, for a shard that does not read.
        except (Exception, CheckpointException) as exc:
            state, error = None, f"{type(exc).__name__}: {exc}"
        if runtime.all_sum([1.0 if error else 0.0])[0] == 0 and state is not None:
            return path, state
        runtime.log(f"checkpoint {path} does not load ({error or 'on another rank'}); "
                    "trying the previous one")  # fmt: skip
    return None


def load(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> TrainerState:
    """Collective: restore trainable weights, optimizer state, this rank's RNG and the counters."""
    model_sd, optim_sd = get_state_dict(model, optimizer, options=_OPTIONS)
    both: dict[str, Any] = {"model": model_sd, "optim": optim_sd}
    dcp.load(both, checkpoint_id=str(path))
    result = set_state_dict(
        model, optimizer, model_state_dict=both["model"], optim_state_dict=both["optim"],
        options=_LOAD_OPTIONS,
    )  # fmt: skip
    trainable = {clean_name(n) for n, p in model.named_parameters() if p.requires_grad}
    missing = sorted(trainable & set(result.missing_keys))
    if missing:
        raise KeyError(f"checkpoint {path} lacks trainable weights, e.g. {missing[:3]}")
    rng = path / f"rng-{dist.get_rank()}.pt"
    if rng.exists():  # absent when the world size changed; dropout then differs, nothing else
        _set_rng_state(torch.load(rng))
    return TrainerState(**json.loads((path / _STATE_FILE).read_text()))


def _local(param: torch.Tensor) -> torch.Tensor:
    return param.to_local() if isinstance(param, DTensor) else param


def keep_best(root: Path, model: nn.Module, dtype: torch.dtype | None = None) -> None:
    """Each rank saves its local shards of the trainable weights (no collective needed).

    `dtype`: store in this dtype (full fine-tuning: the export dtype, half the bytes of fp32
    and exactly what the export writes); None keeps the parameters' own (LoRA: fp32 adapters,
    merged in fp32 at export).
    """
    root.mkdir(parents=True, exist_ok=True)
    shards = {
        n: _local(p).detach().to("cpu", dtype or p.dtype, copy=True)
        for n, p in model.named_parameters()
        if p.requires_grad
    }
    tmp = root / f"rank-{dist.get_rank()}.pt.tmp"
    torch.save(shards, tmp)
    tmp.replace(root / f"rank-{dist.get_rank()}.pt")


def clear_best(root: Path) -> None:
    """Collective: forget best weights left in the checkpoint directory by another job."""
    if _is_local_leader():
        shutil.rmtree(root, ignore_errors=True)
    dist.barrier()


def restore_best(root: Path, model: nn.Module) -> bool:
    path = root / f"rank-{dist.get_rank()}.pt"
    if runtime.all_sum([0.0 if path.exists() else 1.0])[0] > 0:
        return False  # some rank has no best shards: keep the final weights everywhere
    shards = torch.load(path)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in shards:
                _local(param).copy_(shards[name])
    return True
