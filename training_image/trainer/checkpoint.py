"""Sharded checkpoints for spot interruptions, and the best weights kept for export.

Interval checkpoints use torch.distributed.checkpoint (DCP): every rank writes its own shards of
the trainable weights and of the optimizer state (LoRA: adapters only; the frozen base comes
from the model channel again), so nothing is gathered to one rank. SageMaker syncs
/opt/ml/checkpoints to S3 from every node and downloads the whole prefix to every node on
restart. A checkpoint counts only once each node has written its DONE marker, so one that an
interruption cut short (or that one node had not uploaded yet) is skipped, and the run resumes
from the one before it: at most `checkpointEverySteps` steps are lost.

The best weights (lowest validation loss) are kept per rank as plain local shards: they are
reloaded by the same ranks in the same job, before export, and need no resharding.
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


def _node_info() -> tuple[int, int]:
    local = int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size()))
    return dist.get_rank() // local, dist.get_world_size() // local


def _is_local_leader() -> bool:
    return int(os.environ.get("LOCAL_RANK", dist.get_rank())) == 0


def save(
    root: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainerState
) -> Path:
    """Collective: write step-N/ under root; all ranks return after every node marked it done."""
    path = root / f"{_STEP_PREFIX}{state.step:08d}"
    path.mkdir(parents=True, exist_ok=True)
    model_sd, optim_sd = get_state_dict(model, optimizer, options=_OPTIONS)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(path))
    torch.save(torch.get_rng_state(), path / f"rng-{dist.get_rank()}.pt")
    if dist.get_rank() == 0:
        (path / _STATE_FILE).write_text(json.dumps(asdict(state)))
    dist.barrier()
    node, _ = _node_info()
    if _is_local_leader():
        (path / f"DONE-node{node}").touch()
        _prune(root, keep=path)
    dist.barrier()
    return path


def _complete(path: Path, nodes: int) -> bool:
    return (path / _STATE_FILE).exists() and all(
        (path / f"DONE-node{n}").exists() for n in range(nodes)
    )


def latest(root: Path) -> Path | None:
    """The newest checkpoint that every node finished writing."""
    if not root.is_dir():
        return None
    _, nodes = _node_info()
    done = [p for p in root.glob(f"{_STEP_PREFIX}*") if p.is_dir() and _complete(p, nodes)]
    return max(done, key=lambda p: p.name, default=None)


def _prune(root: Path, keep: Path) -> None:
    for old in root.glob(f"{_STEP_PREFIX}*"):
        if old != keep and old.name < keep.name:
            shutil.rmtree(old, ignore_errors=True)


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
        torch.set_rng_state(torch.load(rng))
    return TrainerState(**json.loads((path / _STATE_FILE).read_text()))


def _local(param: torch.Tensor) -> torch.Tensor:
    return param.to_local() if isinstance(param, DTensor) else param


def keep_best(root: Path, model: nn.Module) -> None:
    """Each rank saves its local shards of the trainable weights (no collective needed)."""
    root.mkdir(parents=True, exist_ok=True)
    shards = {
        n: _local(p).detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad
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
